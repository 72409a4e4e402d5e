//! What every scalar function here shares: argument handling, literals, the
//! DataFusion trait. A function is then a name, a signature and a [`Kernel`].

use std::fmt::Debug;
use std::hash::Hash;

use arrow::array::ArrayRef;
use arrow::datatypes::DataType;
use datafusion::common::{ScalarValue, exec_err, plan_err};
use datafusion::error::Result;
use datafusion::logical_expr::{ColumnarValue, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, Volatility};

/// The row-by-row work of one function. DataFusion compares and hashes
/// functions when it rewrites plans, hence `Eq + Hash`.
pub(super) trait Kernel: Debug + Eq + Hash + Send + Sync + 'static {
    /// `args[0]` has one value per row; later arguments may be literals,
    /// which [`Arg::row`] maps every row onto.
    fn eval(&self, args: &[Arg]) -> Result<ArrayRef>;
}

/// One evaluated argument. A literal stays one row long instead of being
/// copied into every row (a `pluck` key would otherwise be copied a batch's
/// worth of times).
pub(super) struct Arg {
    pub(super) array: ArrayRef,
    constant: bool,
}

impl Arg {
    /// The index in `array` that holds row `i`'s value.
    pub(super) fn row(&self, i: usize) -> usize {
        if self.constant { 0 } else { i }
    }
}

/// The argument of a one-argument function.
pub(super) fn one(args: &[Arg]) -> Result<&ArrayRef> {
    match args {
        [x] => Ok(&x.array),
        _ => exec_err!("expected 1 argument, got {}", args.len()),
    }
}

/// The arguments of a two-argument function.
pub(super) fn two(args: &[Arg]) -> Result<(&ArrayRef, &Arg)> {
    match args {
        [x, y] => Ok((&x.array, y)),
        _ => exec_err!("expected 2 arguments, got {}", args.len()),
    }
}

#[derive(Debug, PartialEq, Eq, Hash)]
pub(super) enum Returns {
    Type(DataType),
    /// The type of the first argument, for functions like `bin` that work on
    /// integers and timestamps alike.
    FirstArgument,
}

#[derive(Debug, PartialEq, Eq, Hash)]
struct Func<K> {
    name: &'static str,
    signature: Signature,
    returns: Returns,
    kernel: K,
}

pub(super) fn udf(name: &'static str, signature: Signature, returns: Returns, kernel: impl Kernel) -> ScalarUDF {
    ScalarUDF::new_from_impl(Func { name, signature, returns, kernel })
}

/// Functions that take the same argument types, each `(name, kernel, result type)`.
pub(super) fn family<K: Kernel>(
    arg_types: &[DataType],
    volatility: Volatility,
    members: impl IntoIterator<Item = (&'static str, K, DataType)>,
) -> Vec<ScalarUDF> {
    members
        .into_iter()
        .map(|(name, kernel, returns)| {
            udf(name, Signature::exact(arg_types.to_vec(), volatility), Returns::Type(returns), kernel)
        })
        .collect()
}

impl<K: Kernel> ScalarUDFImpl for Func<K> {
    fn name(&self) -> &str {
        self.name
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, arg_types: &[DataType]) -> Result<DataType> {
        match (&self.returns, arg_types.first()) {
            (Returns::Type(t), _) => Ok(t.clone()),
            (Returns::FirstArgument, Some(t)) => Ok(t.clone()),
            (Returns::FirstArgument, None) => plan_err!("{} needs an argument", self.name),
        }
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        // All literals (constant folding, `SELECT f('x')`): compute one row and
        // answer a literal, as DataFusion expects.
        let literal = args.args.iter().all(|a| matches!(a, ColumnarValue::Scalar(_)));
        let rows = if literal { 1 } else { args.number_rows };
        let args = args
            .args
            .into_iter()
            .enumerate()
            .map(|(i, value)| match value {
                ColumnarValue::Array(array) => Ok(Arg { array, constant: false }),
                ColumnarValue::Scalar(s) if i == 0 => Ok(Arg { array: s.to_array_of_size(rows)?, constant: false }),
                ColumnarValue::Scalar(s) => Ok(Arg { array: s.to_array()?, constant: true }),
            })
            .collect::<Result<Vec<_>>>()?;
        let out = self.kernel.eval(&args)?;
        if literal {
            ScalarValue::try_from_array(&out, 0).map(ColumnarValue::Scalar)
        } else {
            Ok(ColumnarValue::Array(out))
        }
    }
}

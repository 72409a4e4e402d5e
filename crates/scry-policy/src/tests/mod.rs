//! Policies that must load (with what they load as), every way a policy is
//! refused (with the exact message), and a fuzz test: no input panics.

mod accepted;
mod fuzz;
mod rejected;

const HEAD: &str = "apiVersion: cilium.io/v1alpha1\nkind: TracingPolicy\nmetadata:\n  name: test\nspec:\n";

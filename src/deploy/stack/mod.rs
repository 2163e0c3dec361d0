//! CloudFormation stacks, in parts that import one way:
//! [`state`] (describe, and what a status allows) ← [`events`] (following
//! them live) ← [`change_set`] (plan, discard, execute) ← [`parameter`]
//! (one value changed); and [`delete`].

pub mod change_set;
pub mod delete;
pub mod events;
pub mod parameter;
pub mod state;

pub use change_set::{
    discard, execute, parameter_changes, plan, ParameterChange, Plan, Request, ResourceChange,
};
pub use delete::delete;
pub use parameter::set_parameter;
pub use state::{blocked, describe, require, state, tagged, StackInfo, State};

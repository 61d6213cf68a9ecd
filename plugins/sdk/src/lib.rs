//! The guest-side crate for writing Trellis plugin nodes.
//!
//! A plugin is a WASI 0.2 component of the `trellis:plugin/node` world. This
//! crate hides the generated bindings: implement [`Node`] for each kind the
//! plugin offers and list them in [`plugin!`].
//!
//! ```ignore
//! use trellis_plugin_sdk::{plugin, Context, Emits, Node, NodeError};
//!
//! #[derive(serde::Deserialize, schemars::JsonSchema)]
//! struct Config { greeting: String }
//!
//! struct Greet;
//! impl Node for Greet {
//!     const KIND: &'static str = "greet";
//!     const TITLE: &'static str = "Greet";
//!     const DESCRIPTION: &'static str = "Says hello";
//!     type Config = Config;
//!     type Input = serde_json::Value;
//!     type Output = String;
//!     fn run(_cx: &Context, config: Config, _input: serde_json::Value) -> Result<Emits<String>, NodeError> {
//!         Ok(Emits::out(config.greeting))
//!     }
//! }
//! plugin!(Greet);
//! ```
//!
//! Host capabilities are plain blocking functions: [`http::send`],
//! [`secrets::get`], [`kv`], [`llm::chat`] and [`log`]; [`provider`] maps
//! a provider API's failures to node errors.

pub mod http;
pub mod kv;
pub mod llm;
pub mod log;
mod node;
pub mod provider;
pub mod secrets;

pub use node::{Context, Emits, Node, NodeError};
#[doc(hidden)]
pub use node::{describe_node, run_node};
pub use schemars;
pub use secrets::SecretName;
pub use serde_json;

/// The raw `wit-bindgen` bindings of `trellis:plugin@0.2.0`. Plugin authors
/// should not need them; they are public for [`plugin!`] and for the rare
/// plugin that wants to drive `wasi:http` streaming by hand.
#[doc(hidden)]
#[allow(clippy::too_many_arguments)]
pub mod bindings {
    wit_bindgen::generate!({
        path: "../../wit/0.2.0",
        world: "trellis:plugin/node",
        generate_all,
        pub_export_macro: true,
        export_macro_name: "__export_node_world",
        default_bindings_module: "trellis_plugin_sdk::bindings",
    });
}

/// Exports the listed [`Node`] types as this component's node kinds.
///
/// Every type is described by `describe` in the order given, and `run`
/// dispatches on the invocation's `kind`.
#[macro_export]
macro_rules! plugin {
    ($($node:ty),+ $(,)?) => {
        struct __TrellisPlugin;

        impl $crate::bindings::Guest for __TrellisPlugin {
            fn describe() -> ::std::vec::Vec<$crate::bindings::trellis::plugin::types::NodeKind> {
                ::std::vec![$($crate::describe_node::<$node>()),+]
            }

            fn run(
                inv: $crate::bindings::trellis::plugin::types::Invocation,
            ) -> ::std::result::Result<
                ::std::vec::Vec<$crate::bindings::trellis::plugin::types::Emit>,
                $crate::bindings::trellis::plugin::types::NodeError,
            > {
                $(
                    if inv.kind == <$node as $crate::Node>::KIND {
                        return $crate::run_node::<$node>(inv);
                    }
                )+
                ::std::result::Result::Err(
                    $crate::bindings::trellis::plugin::types::NodeError::InvalidConfig(
                        ::std::format!("this plugin has no node kind `{}`", inv.kind),
                    ),
                )
            }
        }

        $crate::bindings::__export_node_world!(__TrellisPlugin with_types_in $crate::bindings);
    };
}

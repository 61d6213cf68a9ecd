//! A well-formed component of the wrong world (wasi:cli/command): the host
//! must refuse it at load time instead of failing later at call time.
fn main() {
    println!("hello from a command, not a trellis node");
}

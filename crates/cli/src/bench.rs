pub fn run(_a: Args) -> anyhow::Result<()> {
    anyhow::bail!("todo")
}
#[derive(clap::Args)]
pub struct Args {}

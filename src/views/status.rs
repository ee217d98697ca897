//! `osps status [NAME]`: one instance described for people, like `systemctl status`,
//! rendered from the survey of [`crate::instance::discover`] by [`crate::views::render::describe`]. The exit
//! status follows `systemctl status`: 0 running, 3 not running, 4 no such instance.

use color_eyre::eyre::{Result, WrapErr};

use crate::cli::StatusArgs;
use crate::disk::names;
use crate::exit::Exit;
use crate::instance::discover::{self, Status};
use crate::output::write_stdout;
use crate::views::render::{Clock, describe};

/// Runs `osps status`.
pub fn run(args: &StatusArgs) -> Result<Exit> {
    let name = crate::cli::name_or_default(args.given_name())?;
    let runtime_dir = names::default_runtime_dir(args.runtime_dir.as_deref());
    let survey = discover::survey(&runtime_dir, Some(&name))
        .wrap_err_with(|| format!("examining instance {name} in {}", runtime_dir.display()))?;
    if let Some(why) = &survey.dir_error {
        crate::warn!("{why}; showing only what is in {}", names::SHM_DIR);
    }
    let Some(instance) = survey.instances.first() else {
        return Err(discover::no_such_instance(&name, &runtime_dir));
    };
    let color = crate::log::use_color_on_stdout();
    let text = describe::render(&describe::details(instance, Clock::now()), color);
    write_stdout(text.as_bytes())?;
    Ok(match instance.status {
        Status::Running => Exit::Success,
        Status::Stale | Status::Partial | Status::Corrupt | Status::Inaccessible => {
            Exit::NotRunning
        }
    })
}

//! The command-line arguments every stage shares: `stageNN [OPTIONS] <PORT> <ROOT>`.
//!
//! A stage flattens [`CommonArgs`] into its own clap parser and adds only its own options, so
//! `--help` reads the same from stage01 to stage06, with each stage's additions at the end.

use clap::Args;
use std::net::{IpAddr, Ipv6Addr};
use std::path::PathBuf;
use std::time::Duration;

/// Printed after every stage's `--help`: the limits a client runs into.
pub const LIMITS_HELP: &str = "\
Limits: request line 8 KiB (else 414), request head 16 KiB or 100 header fields (else 431);
each limit is answered and the connection closed. Hidden files (.git, .env) are never served.";

#[derive(Args, Debug, Clone)]
pub struct CommonArgs {
    /// TCP port to listen on; 0 asks the OS for a free one (the startup line shows it)
    pub port: u16,

    /// The folder to serve; nothing outside it is ever sent
    pub root: PathBuf,

    /// Address to listen on; the default `::` accepts IPv6 and IPv4 both
    #[arg(long, value_name = "ADDR", default_value_t = IpAddr::V6(Ipv6Addr::UNSPECIFIED))]
    pub bind: IpAddr,

    /// Append the access log (Combined Log Format) to FILE instead of stdout
    #[arg(long, value_name = "FILE")]
    pub access_log: Option<PathBuf>,

    /// Write no access log at all
    #[arg(long, short, conflicts_with = "access_log")]
    pub quiet: bool,
}

/// The longest timeout or grace period accepted: one day. Every deadline is `now + SECS`, and
/// `Instant + Duration` panics when the sum overflows (`--idle-timeout 18446744073709551615`
/// did, at the first connection): a bound at parse time makes every such sum safe, and gives
/// the person who typed it one clear error instead of a crash later.
pub const MAX_SECS: u64 = 86_400;

// ANCHOR: timeouts
/// The two timeouts every stage with keep-alive takes (stage02 on), flattened into its parser.
/// Zero is refused: to the kernel a zero socket timeout means "wait for ever".
#[derive(Args, Debug, Clone)]
pub struct TimeoutArgs {
    /// Close a connection that stays silent SECS between requests; 1 to 86400 (the blocking
    /// stages also give up on a client that stops taking our bytes for that long)
    #[arg(long, value_name = "SECS", default_value_t = 5,
          value_parser = clap::value_parser!(u64).range(1..=MAX_SECS))]
    pub idle_timeout: u64,

    /// A request head must arrive whole within SECS of its first byte, however slowly it
    /// drips in (else 408 and close); 1 to 86400
    #[arg(long, value_name = "SECS", default_value_t = 10,
          value_parser = clap::value_parser!(u64).range(1..=MAX_SECS))]
    pub header_timeout: u64,
}
// ANCHOR_END: timeouts

// ANCHOR: grace
/// The graceful stop every stage that owns its threads or its loop offers (stage04 on).
#[derive(Args, Debug, Clone, Copy)]
pub struct GraceArgs {
    /// On SIGINT or SIGTERM, give responses in flight SECS to finish, then exit anyway (exit
    /// code 1); a second signal exits at once (exit code 130); 0 to 86400
    #[arg(long, value_name = "SECS", default_value_t = 10,
          value_parser = clap::value_parser!(u64).range(..=MAX_SECS))]
    pub grace: u64,
}
// ANCHOR_END: grace

impl GraceArgs {
    /// The grace period as a duration.
    pub fn period(&self) -> std::time::Duration {
        std::time::Duration::from_secs(self.grace)
    }
}

impl TimeoutArgs {
    pub fn idle(&self) -> Duration {
        Duration::from_secs(self.idle_timeout)
    }

    pub fn header(&self) -> Duration {
        Duration::from_secs(self.header_timeout)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser, Debug)]
    struct Cli {
        #[command(flatten)]
        timeouts: TimeoutArgs,
        #[command(flatten)]
        grace: GraceArgs,
    }

    #[test]
    fn timeouts_and_grace_are_bounded_at_parse_time() {
        let parse = |args: &[&str]| Cli::try_parse_from([&["stage"], args].concat());
        let max = MAX_SECS.to_string();
        let ok = parse(&[
            "--idle-timeout",
            &max,
            "--header-timeout",
            &max,
            "--grace",
            &max,
        ])
        .expect("one day is accepted");
        assert_eq!(ok.timeouts.idle(), Duration::from_secs(MAX_SECS));
        assert!(parse(&["--grace", "0"]).is_ok());
        for flag in ["--idle-timeout", "--header-timeout", "--grace"] {
            for value in [
                "86401",
                "18446744073709551615",
                "18446744073709551616",
                "-1",
            ] {
                let error = parse(&[&format!("{flag}={value}")])
                    .expect_err(value)
                    .to_string();
                assert!(
                    error.contains(&format!("invalid value '{value}'")),
                    "{error}"
                );
            }
        }
        assert!(parse(&["--idle-timeout", "0"]).is_err());
    }
}

"""Settings: the typed profile, bench.toml and the command line's flags."""

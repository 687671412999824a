"""`bodypix` subcommands added by the panel: `serve` and `set-password`."""

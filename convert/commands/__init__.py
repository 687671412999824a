"""`convert` subcommands: one module each, with `register(subparsers)`; heavy imports inside handlers."""

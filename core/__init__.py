"""What all three stages share: errors, the variant catalog, input sizes, the command-line
helpers, atomic file writes and the array type names. It imports none of them (api -> runtime
-> core, convert -> core; tests/test_layering.py checks the arrows)."""

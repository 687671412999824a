# Minimal stubs for the parts of pycuda this project uses (pycuda ships no type information).

"""An application package whose modules use what ordinary programs use (data files,
lambdas, closures, classes of modules it never imports); tests/runtime/test_local_semantics.py
offloads it."""

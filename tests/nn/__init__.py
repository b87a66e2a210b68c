import pytest

# The shared checks assert in a helper module: have pytest explain its failures too.
pytest.register_assert_rewrite(f"{__name__}.layer_tester")

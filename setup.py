"""The native part of Gusu: the state tree's per-block update in C (gusu.ledger._smt_native, docs/state.md).

Everything else is in pyproject.toml. Building needs a C compiler, Python's headers and OpenSSL 3's libcrypto
headers (Debian: gcc, python3-dev, libssl-dev; scripts/bootstrap.sh installs them).
"""

from setuptools import Extension, setup

setup(
    ext_modules=[
        Extension(
            "gusu.ledger._smt_native",
            sources=["src/gusu/ledger/_smt_native.c"],
            libraries=["crypto"],
            extra_compile_args=["-O2", "-std=c11", "-Wall", "-Wextra", "-Wno-unused-parameter"],
        )
    ],
)

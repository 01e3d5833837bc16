"""Defaults from the pmp SPANK plugin: `srun --pmp-workers=4 python script.py` gives every
task PMP_WORKERS=4 and the like, which an Executor created without arguments uses."""
import os


class Default(int):
    """An int default that knows it was not given: `cores_per_worker=1` in a signature,
    still distinguishable from an explicit 1, so that PMP_* variables can fill it."""

    def __repr__(self):
        return int.__repr__(self)


ONE = Default(1)
ZERO = Default(0)


def env_int(name, minimum=0):
    value = os.environ.get(name)
    if value is None or value == "":
        return None
    try:
        number = int(value)
    except ValueError:
        raise ValueError(f"pmp: {name}={value!r} is not a whole number: fix or unset it") from None
    if number < minimum:
        raise ValueError(f"pmp: {name}={value} is below {minimum}: fix or unset it")
    return number


def given_or_env(value, env_name, minimum=0):
    """value unless it is a Default, else the PMP_* variable, else the default."""
    if isinstance(value, Default):
        from_env = env_int(env_name, minimum)
        return int(value) if from_env is None else from_env
    return value


def env_flag(name):
    return os.environ.get(name, "0") not in ("", "0")

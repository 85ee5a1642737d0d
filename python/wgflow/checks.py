"""The gradient checker for potentials, a Python one included."""
try:
    from . import _wgflow
except ImportError:
    import _wgflow


def check_gradient(potential, particles, *, step=1e-3, tolerance=1e-6, at_step=0, raise_on_failure=False):
    """Compares the potential's gradient with fourth-order central differences of its own values at the
    N x J particles (flows::check_term_gradient on its potential energy). For a Python potential that is
    the user's gradient against the user's values. Returns a dict (ok, message naming the worst entry,
    max_error, particle, coordinate, analytic, numeric); raises AssertionError when raise_on_failure and
    the check fails."""
    report = _wgflow.check_gradient(potential, particles, step=step, tolerance=tolerance, at_step=at_step)
    if raise_on_failure and not report["ok"]:
        raise AssertionError(report["message"])
    return report

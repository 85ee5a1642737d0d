"""Python-side helpers over wgflow's flows: potentials written in Python, and runs that record."""
import numpy as np

try:
    from . import _wgflow
except ImportError:
    import _wgflow


def python_potential(fn=None, *, dim, name=None):
    """A potential written in Python, for every flow.

    fn(particles) receives all N x J particles at once (a float64 array, a fresh copy) and returns
    (values, gradients): l(theta_i) of shape (N,) and grad l(theta_i) of shape (N, J). Every flow calls it
    once per step, in one batch: the N particles (mean-field VI: its N x S reparameterised draws).
    Usable as a decorator: ``@python_potential(dim=2)``.
    """
    def wrap(f):
        return _wgflow.PythonPotential(f, dim, name or getattr(f, "__name__", "python"))
    return wrap if fn is None else wrap(fn)


def trajectory(flow, n, every=1, what=lambda f: np.array(f.particles)):
    """Runs n steps and returns the list of what(flow) after every `every` steps (and the last): by
    default copies of the particles, since flow.particles is a view that the next step overwrites."""
    out = []
    flow.run(n, lambda f: out.append(what(f)), every)
    return out

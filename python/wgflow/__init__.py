"""wgflow from Python: particle flows (DE, DLE, DRLE, SVGD, mean-field VI) for Bayesian deep learning,
numpy in, numpy out, on wgflow's C++ core (Wild et al., NeurIPS 2023).

    import numpy as np, wgflow
    loss = wgflow.double_well()
    prior = wgflow.GaussianPrior.isotropic(1, 1.0)
    flow = wgflow.deep_langevin_ensemble(loss, prior, prior.sample(300, seed=1), lambda_=1.0, eta=1e-3, seed=7)
    flow.run(1000)
    theta = np.array(flow.particles)          # flow.particles is a read-only view, valid until the next step

The names are the C++ library's (flows/presets.hpp): every setting is a keyword argument (`lambda_` for
lambda, a Python keyword). A potential is built in (double_well, NetworkPotential, ...) or written in
Python (python_potential: all particles per call). The GIL is released while C++ runs; errors of the C++
core arrive as wgflow.Error (wgflow.ShapeError, wgflow.DataError) with their messages.
"""
try:  # installed: wgflow/_wgflow.*.so beside this file
    from . import _wgflow
except ImportError:  # in the build tree: _wgflow on PYTHONPATH (tests, README example)
    import _wgflow

# The extension's names, re-exported as wgflow.<name>.
__all__ = [name for name in dir(_wgflow) if not name.startswith("_")]
globals().update({name: getattr(_wgflow, name) for name in __all__})

from .flows import python_potential, trajectory  # noqa: E402
from .checks import check_gradient  # noqa: E402

__all__ = sorted(set(__all__) | {"python_potential", "trajectory", "check_gradient"})
__version__ = "0.1.0"

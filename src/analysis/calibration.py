"""Generalised raking: the calibration solver of :mod:`analysis.weights` and of the jackknife
replicates (:mod:`analysis.replication`), every replicate at once."""

from __future__ import annotations

import numpy as np

RAKE_TOL = 1e-13  # calibration stops below this relative gap: every total met to 1e-10 (tested)
OUTER_MAX = 4_000_000  # largest n k^2 for which calibrate stacks the rows of x x' (32 MB)
RAKE_MAX_ITER = 100  # Newton steps; not converging within them: regions merged, else an error


def calibrate(base: np.ndarray, x: np.ndarray, totals: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Generalised raking (Deville and Särndal's exponential distance; R's ``calibrate(...,
    calfun = "raking")``) of every row of ``base`` (replicates x respondents) to the same
    ``totals`` of the columns of ``x`` (respondents x p, linearly independent): w = base
    exp(x lambda) with x'w = totals, by Newton's method with step halving on the convex dual,
    all rows at once. With indicator columns only this is raking (iterative proportional
    fitting reaches the same weights). Returns the weights and, per row, whether every total
    was met to 1e-10 relative (else the last iterate, as R keeps it)."""
    base = np.atleast_2d(np.asarray(base, dtype=float))
    k = x.shape[1]
    # the rows of x x' make every Hessian one product; too large (pooled years of a big survey),
    # one product per weight row instead
    outer = (
        (x[:, :, None] * x[:, None, :]).reshape(len(x), -1) if len(x) * k * k <= OUTER_MAX else None
    )
    scale = np.maximum(np.abs(totals), 1e-300)

    def dual(lam: np.ndarray, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Weights and the convex dual sum(w) - lambda'totals, whose gradient is the gap."""
        with np.errstate(over="ignore", invalid="ignore"):
            w = base[rows] * np.exp(lam @ x.T)
            return w, np.nan_to_num(w.sum(axis=1) - lam @ totals, nan=np.inf)

    lam = np.zeros((len(base), x.shape[1]))
    w, f = dual(lam, np.arange(len(base)))
    stuck = np.zeros(len(base), dtype=bool)  # no step lowers the dual: totals out of reach
    for _ in range(RAKE_MAX_ITER):
        gap = w @ x - totals
        todo = np.flatnonzero((np.max(np.abs(gap) / scale, axis=1) >= RAKE_TOL) & ~stuck)
        if not len(todo):
            break
        if outer is not None:
            hess = (w[todo] @ outer).reshape(len(todo), k, k)
        else:
            hess = np.stack([(x * row[:, None]).T @ x for row in w[todo]])
        try:
            step = np.linalg.solve(hess, gap[todo][:, :, None])[:, :, 0]
        except np.linalg.LinAlgError:  # a deleted respondent emptied a cell: no weights meet it
            step = (np.linalg.pinv(hess) @ gap[todo][:, :, None])[:, :, 0]
        t = np.ones(len(todo))  # Newton step, halved until the dual does not rise
        for _ in range(40):
            w_new, f_new = dual(lam[todo] - t[:, None] * step, todo)
            worse = ~(f_new <= f[todo] + 1e-12 * np.abs(f[todo]))
            if not worse.any():
                break
            t[worse] /= 2
        stuck[todo[worse]] = True
        rows, ok = todo[~worse], ~worse
        lam[rows] -= t[ok, None] * step[ok]
        w[rows], f[rows] = w_new[ok], f_new[ok]
    err = np.max(np.abs(w @ x - totals) / scale, axis=1)
    return w, err < 1e-10

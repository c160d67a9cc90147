"""Sample-quality scores that need no download: sliced Wasserstein, off-support fraction, far-off samples,
Fréchet distance.

All of them compare a cloud of model samples with a cloud of data points, both shaped (N, D) (a 2-D toy set has
D = 2; images are flattened to D = C * H * W, or replaced by features). Inputs may be numpy arrays or torch
tensors on any device; the arithmetic is done in float64 on the CPU so that small distances are not lost to
float32 rounding.
"""

from __future__ import annotations

import numpy as np
import torch

ArrayLike = np.ndarray | torch.Tensor

#: Off-support rule: a sample is off the support when its distance to its k-th nearest data point (k =
#: OFF_SUPPORT_NEIGHBOURS) exceeds the OFF_SUPPORT_PERCENTILE-th percentile of the data's own (leave-one-out)
#: k-th neighbour distances, i.e. when it lies outside the highest-density region holding 99 % of the data.
OFF_SUPPORT_NEIGHBOURS = 10
OFF_SUPPORT_PERCENTILE = 99.0
#: Far-off margin: a sample is far off when it lies outside the data's bounding box enlarged on every side by this
#: share of the box's longest side (see :func:`far_off_box` for why a box and why this share).
FAR_OFF_MARGIN = 0.15
#: Pairwise-distance blocks are kept below this many entries (float64: 32 MB), so 10k x 10k never needs 800 MB.
_CDIST_BLOCK_ENTRIES = 4_000_000


def _to_float64(x: ArrayLike) -> np.ndarray:
    """A float64 numpy view or copy of an array or a tensor (detached and moved to the CPU)."""
    if isinstance(x, torch.Tensor):
        return x.detach().to("cpu", torch.float64).numpy()
    return np.asarray(x, dtype=np.float64)


def _as_points(x: ArrayLike, name: str, min_rows: int = 1) -> np.ndarray:
    """``x`` as a float64 (N, D) array; raise a ValueError naming ``name`` if it is not 2-D, too short or non-finite."""
    x = _to_float64(x)
    if x.ndim != 2:
        raise ValueError(f"{name} must have shape (N, D), got {x.shape}; flatten images with x.reshape(N, -1)")
    if x.shape[0] < min_rows:
        raise ValueError(f"{name} needs at least {min_rows} points, got {x.shape[0]}")
    bad = int((~np.isfinite(x).all(axis=1)).sum())
    if bad:
        raise ValueError(f"{name} has {bad} rows with NaN or inf (a diverged sampler?); drop them before scoring")
    return x


def _check_same_dim(a: np.ndarray, b: np.ndarray) -> None:
    """Raise a ValueError unless (N, D) and (M, D) share D."""
    if a.shape[1] != b.shape[1]:
        raise ValueError(f"the two point clouds must have the same dimension D, got {a.shape[1]} and {b.shape[1]}")


# ------------------------------------------------------------------ sliced Wasserstein
def _random_directions(num_projections: int, dim: int, seed: int) -> np.ndarray:
    """(P, D) unit vectors uniform on the sphere S^{D-1}: normalised standard Gaussians are isotropic."""
    if num_projections < 1:
        raise ValueError(f"num_projections must be >= 1, got {num_projections}")
    directions = np.random.default_rng(seed).standard_normal((num_projections, dim))
    return directions / np.linalg.norm(directions, axis=1, keepdims=True)


def _w2_squared_1d_sorted(sorted_a: np.ndarray, sorted_b: np.ndarray) -> np.ndarray:
    """Squared 2-Wasserstein distance between 1-D empirical measures, column by column.

    In 1-D the optimal plan is monotone, so W2^2 = integral_0^1 (F_a^{-1}(q) - F_b^{-1}(q))^2 dq with the
    quantile functions F^{-1} (Villani 2003, Thm 2.18). An empirical quantile function of N equally weighted
    points is a step function: sorted_a[i] on (i/N, (i+1)/N]. Cutting [0, 1] at every i/N and j/M makes both
    steps constant on each piece, so the integral is an exact finite sum; for N = M it reduces to the familiar
    mean((sorted_a - sorted_b)^2).

    Args:
        sorted_a: (N, P) projections, sorted along axis 0.
        sorted_b: (M, P) projections, sorted along axis 0.

    Returns:
        (P,) W2^2 per column.
    """
    n, m = sorted_a.shape[0], sorted_b.shape[0]
    # i/N and j/M for equal fractions are the same correctly rounded float, so union1d merges them.
    cuts = np.union1d(np.arange(1, n + 1) / n, np.arange(1, m + 1) / m)
    widths = np.diff(cuts, prepend=0.0)
    middles = cuts - widths / 2.0
    index_a = np.minimum((middles * n).astype(np.int64), n - 1)
    index_b = np.minimum((middles * m).astype(np.int64), m - 1)
    return widths @ (sorted_a[index_a] - sorted_b[index_b]) ** 2


def sliced_wasserstein(a: ArrayLike, b: ArrayLike, num_projections: int = 256, seed: int = 0) -> float:
    """Sliced 2-Wasserstein distance between two point clouds (Rabin et al. 2011; Bonneel et al. 2015).

    SW2(a, b)^2 = E_theta[ W2^2(theta . a, theta . b) ] over unit directions theta uniform on the sphere,
    estimated with ``num_projections`` directions drawn from ``seed`` (the same directions for every call with
    that seed, so scores of different checkpoints are comparable). Each 1-D W2 is exact (see
    :func:`_w2_squared_1d_sorted`), also when N != M. For a pure shift b = a + m, SW2^2 = E[(m . theta)^2] =
    |m|^2 / D: sliced distances are smaller than W2 = |m| by sqrt(D).

    Args:
        a: (N, D) points.
        b: (M, D) points.

    Returns:
        SW2 >= 0, in the units of the points.

    References:
        J. Rabin, G. Peyré, J. Delon, M. Bernot, "Wasserstein Barycenter and its Application to Texture
        Mixing", SSVM 2011. N. Bonneel, J. Rabin, G. Peyré, H. Pfister, "Sliced and Radon Wasserstein
        Barycenters of Measures", JMIV 2015.
    """
    a = _as_points(a, "a")
    b = _as_points(b, "b")
    _check_same_dim(a, b)
    directions = _random_directions(num_projections, a.shape[1], seed)
    sorted_a = np.sort(a @ directions.T, axis=0)
    sorted_b = np.sort(b @ directions.T, axis=0)
    return float(np.sqrt(_w2_squared_1d_sorted(sorted_a, sorted_b).mean()))


def sliced_wasserstein_floor(heldout: ArrayLike, num_projections: int = 256, seed: int = 0) -> float:
    """SW2 between two random halves of a held-out set: the score that sampling noise alone produces.

    A model whose samples are distributed exactly like the data still scores above 0, because two finite
    samples of one distribution differ. This floor is that data-vs-data score, for clouds of size N // 2 each;
    compare it with a model's score on clouds of the same size (the floor shrinks as N grows).

    Args:
        heldout: (N, D) data points not used for training, N >= 2.

    Returns:
        SW2 between the halves, with the same directions as ``sliced_wasserstein(..., seed=seed)``.
    """
    heldout = _as_points(heldout, "heldout", min_rows=2)
    order = np.random.default_rng(seed).permutation(heldout.shape[0])
    half = heldout.shape[0] // 2
    return sliced_wasserstein(
        heldout[order[:half]], heldout[order[half : 2 * half]], num_projections=num_projections, seed=seed
    )


#: Random half splits of the held-out set that :class:`HeldoutSlicedWasserstein` averages over (M39). One split's
#: floor is itself a noisy draw: on a thin ring of 819 held-out points its standard deviation over splits was 38-44 %
#: of its mean, so one lucky split read the training data itself as 2.2x "the floor" (benchmarks/RESULTS.md).
NUM_FLOOR_SPLITS = 32


class HeldoutSlicedWasserstein:
    """SW2 of samples to held-out data and its floor, both averaged over random half splits (MATH.md M39).

    For splits k = 1..K of the held-out set into halves A_k, B_k of n = N // 2 points each, with S_k the k-th
    chunk of n samples and R_k the k-th chunk of n reference points (the training data; chunks reused in turn):

        score(samples) = mean_k SW2(S_k, B_k),     floor = mean_k SW2(R_k, B_k)   (no reference: SW2(A_k, B_k)).

    Both sides compare clouds of n points with the same B_k. The floor is what real data, drawn apart from the
    held-out set, scores: it carries the held-out set's own chance deviation from the distribution, which the
    half-against-half floor misses (on a thin ring with 819 held-out points, data drawn afresh read 1.43x that
    floor, and a single split's floor varied by 38 % of its mean).

    Args:
        heldout: (N, D) data points not used for training, N >= 2.
        reference: (M, D) points of the same distribution drawn apart from ``heldout`` (the training set), or
            None for the halves A_k.
        num_splits: K.
        seed: fixes the splits (and the projection directions, as for :func:`sliced_wasserstein`).
    """

    def __init__(self, heldout: ArrayLike, reference: ArrayLike | None = None, num_splits: int = NUM_FLOOR_SPLITS,
                 seed: int = 0, num_projections: int = 256) -> None:
        heldout = _as_points(heldout, "heldout", min_rows=2)
        rng = np.random.default_rng(seed)
        self.sample_count = heldout.shape[0] // 2
        n = self.sample_count
        orders = [rng.permutation(heldout.shape[0]) for _ in range(max(1, num_splits))]
        self._halves_b = [heldout[order[n : 2 * n]] for order in orders]
        self.half_a = heldout[orders[0][:n]]  # the first split's other half: a real-data sample of the floor's size
        self._projections = num_projections
        self._seed = seed
        if reference is None:
            self.floors = np.array([self._sw(heldout[order[:n]], b) for order, b in zip(orders, self._halves_b)])
        else:
            self.floors = np.array(self._per_split(_as_points(reference, "reference", min_rows=1)))
        self.floor = float(self.floors.mean())

    def _sw(self, a: np.ndarray, b: np.ndarray) -> float:
        return sliced_wasserstein(a, b, num_projections=self._projections, seed=self._seed)

    def _per_split(self, points: np.ndarray) -> list[float]:
        """SW2(chunk_k, B_k) for every split k, chunks of ``sample_count`` points taken in turn (one if fewer)."""
        n = self.sample_count
        chunks = [points[i : i + n] for i in range(0, points.shape[0] - n + 1, n)] or [points]
        return [self._sw(chunks[k % len(chunks)], b) for k, b in enumerate(self._halves_b)]

    def score(self, samples: ArrayLike) -> float:
        """mean_k SW2(S_k, B_k) over chunks S_k of ``sample_count`` samples (all samples if there are fewer).

        Fewer samples than ``sample_count`` score high (a smaller cloud is farther from any other), so compare
        at equal size; ``samples`` is (M, D) in the held-out set's coordinates.
        """
        return float(np.mean(self._per_split(_as_points(samples, "samples", min_rows=1))))

    def ratio(self, samples: ArrayLike) -> float:
        """score / floor: about 1 for samples drawn like the data."""
        return self.score(samples) / self.floor


# ------------------------------------------------------------------ off-support fraction
def nearest_distances(
    queries: np.ndarray, reference: np.ndarray, exclude_self: bool = False, k: int = 1
) -> np.ndarray:
    """(Q,) Euclidean distance from each query row to its k-th nearest reference row, in row blocks.

    ``exclude_self`` (queries is reference) skips each point's zero distance to itself, which would otherwise
    be every point's nearest neighbour.
    """
    reference_t = torch.from_numpy(reference)
    reference_sq = (reference_t * reference_t).sum(dim=1)
    k = min(k, reference.shape[0] - (1 if exclude_self else 0))
    block = max(1, _CDIST_BLOCK_ENTRIES // reference.shape[0])
    nearest = np.empty(queries.shape[0])
    for start in range(0, queries.shape[0], block):
        query_t = torch.from_numpy(queries[start : start + block])
        # |q - r|^2 = |q|^2 + |r|^2 - 2 q.r as one matrix product: ~3x faster than torch.cdist here, and float64
        # keeps the cancellation error near 1e-8 in distance. |q|^2 is the same along a row, so it is added
        # after the selection, and only the (Q,) chosen distances pay for a sqrt.
        partial_sq = torch.addmm(reference_sq.unsqueeze(0), query_t, reference_t.T, alpha=-2.0)
        if exclude_self:
            rows = torch.arange(partial_sq.shape[0])
            partial_sq[rows, rows + start] = float("inf")
        if k == 1:
            chosen = partial_sq.min(dim=1).values
        else:
            chosen = partial_sq.topk(k, dim=1, largest=False).values[:, -1]
        nearest_sq = chosen + (query_t * query_t).sum(dim=1)
        nearest[start : start + block] = nearest_sq.clamp_min(0.0).sqrt().numpy()
    return nearest


def off_support_radius(data: ArrayLike, neighbours: int = OFF_SUPPORT_NEIGHBOURS) -> float:
    """The default off-support threshold of :func:`off_support_fraction` for ``data`` (M, D), M >= 2.

    The 99th percentile of each data point's distance to its ``neighbours``-th nearest other data point. A
    k-th-neighbour distance r_k estimates the density, p ~ k / (M * area of a disc of radius r_k) (Loftsgaarden &
    Quesenberry 1965), so "r_k above this threshold" means "density below the level that 99 % of the data
    exceeds": outside the highest-density region holding 99 % of the mass. For one Gaussian that region is
    the disc of radius 3.03 sigma in 2-D (P(r > r0) = exp(-r0^2 / 2) = 0.01), the "3 sigma from every centre"
    a person applies to clusters.
    """
    data = _as_points(data, "data", min_rows=2)
    return float(np.percentile(nearest_distances(data, data, exclude_self=True, k=neighbours),
                               OFF_SUPPORT_PERCENTILE))


def off_support_fraction(
    samples: ArrayLike, data: ArrayLike, radius: float | None = None, threshold: float | None = None
) -> float:
    """Fraction of samples off the data's support: mass the model puts where data isn't.

    The typical failure of a diffusion model on toy data is a haze of samples between the arms of a spiral or
    between the modes of a mixture; SW averages that away, this counts it.

    MATH.md M37.

    Args:
        samples: (N, D) model samples.
        data: (M, D) data points (M >= 2 when ``radius`` is None).
        radius: with a radius, a sample is off the support when it is farther than ``radius`` from every data
            point. Default (None): when its distance to its OFF_SUPPORT_NEIGHBOURS-th (10th) nearest data point
            exceeds :func:`off_support_radius`, i.e. when it lies in a region less dense than the one holding
            99 % of the data. Samples of the data's own distribution then read about 1 % (the data's own share
            beyond the level), and a haze a few sigma off well-separated clusters reads as what it is. (The
            earlier rule, 2 x the 99th percentile of nearest-neighbour distances, took the sparse edges of a
            cluster as its scale and read a 20 % haze hugging the clusters as 6-10 %: tests/test_metrics.py.)
        threshold: :func:`off_support_radius` of ``data`` when the caller has it already (it costs M^2
            distances); ignored when ``radius`` is given.

    Returns:
        A fraction in [0, 1].
    """
    samples = _as_points(samples, "samples")
    data = _as_points(data, "data", min_rows=2 if radius is None else 1)
    _check_same_dim(samples, data)
    if radius is not None:
        if radius < 0:
            raise ValueError(f"radius must be >= 0, got {radius}")
        return float(np.mean(nearest_distances(samples, data) > radius))
    if threshold is None:
        threshold = off_support_radius(data)
    return float(np.mean(nearest_distances(samples, data, k=OFF_SUPPORT_NEIGHBOURS) > threshold))


# ------------------------------------------------------------------ far-off samples
def far_off_box(data: ArrayLike, margin: float = FAR_OFF_MARGIN) -> tuple[np.ndarray, np.ndarray]:
    """The region outside which a sample is *far off*: the data's bounding box, enlarged on every side by
    ``margin`` times its longest side.

    Why a box: it assumes nothing about the data's shape (a rule of k robust standard deviations around the
    median assumes one blob, and the moons, the ring or the checkerboard are not one), it is what a plot of the
    data shows (a comparison's thumbnail frames this box), and it is cheap. Why an isotropic margin (a share of
    the longest side, not of each side): it is one distance in the data's own units, so a thin data set does not
    get a thin tolerance across it. With the default 0.15, a far-off sample is at least 15% of the data's
    extent away from every data point, far beyond the off-support threshold of :func:`off_support_fraction`
    (a few times the data's own point spacing): every far-off sample is also off the support, and an
    unambiguous miss; held-out points of the built-in 2-D sets never land there (tests/test_far_off.py).

    Args:
        data: (M, D) data points (the training set), finite.
        margin: >= 0, the share of the box's longest side added on each side.

    Returns:
        (low, high): float64 (D,) corners, low <= high.
    """
    data = _as_points(data, "data")
    if not margin >= 0:
        raise ValueError(f"margin must be >= 0, got {margin}")
    low, high = data.min(axis=0), data.max(axis=0)
    pad = margin * float((high - low).max())
    return low - pad, high + pad


def far_off_mask(samples: ArrayLike, low: ArrayLike, high: ArrayLike) -> np.ndarray:
    """Which samples are far off: outside the box [low, high] (from :func:`far_off_box`) in any coordinate.

    Args:
        samples: (N, D) points; a row holding NaN or inf is not inside any box, so it counts as far off (drop
            non-finite rows first to count them separately).
        low, high: (D,) corners.

    Returns:
        (N,) bool, True for a far-off sample.
    """
    samples = _to_float64(samples)
    low, high = np.asarray(low, dtype=np.float64), np.asarray(high, dtype=np.float64)
    if samples.ndim != 2 or low.shape != (samples.shape[1],) or high.shape != low.shape:
        raise ValueError(f"samples must be (N, D) and low, high (D,), got {samples.shape}, {low.shape}, {high.shape}")
    return ~((samples >= low) & (samples <= high)).all(axis=1)


# ------------------------------------------------------------------ Fréchet distance
def gaussian_stats(features: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    """Mean and unbiased covariance of a feature set, the Gaussian fitted by FID-style scores.

    Args:
        features: (N, D) with N >= 2.

    Returns:
        (mu, sigma): float64 (D,) mean and float64 (D, D) covariance with the 1 / (N - 1) normalisation.
    """
    features = _as_points(features, "features", min_rows=2)
    mu = features.mean(axis=0)
    centered = features - mu
    sigma = centered.T @ centered / (features.shape[0] - 1)
    return mu, sigma


def _symmetric_sqrt(matrix: np.ndarray) -> np.ndarray:
    """Principal square root of a symmetric positive semi-definite (D, D) matrix through eigh.

    Eigenvalues that rounding pushed slightly below 0 are clipped: a covariance cannot have them, and sqrt of a
    negative would turn the result complex (the failure of scipy.linalg.sqrtm on singular covariances).
    """
    eigenvalues, eigenvectors = np.linalg.eigh((matrix + matrix.T) / 2.0)
    return (eigenvectors * np.sqrt(np.clip(eigenvalues, 0.0, None))) @ eigenvectors.T


def frechet_distance(mu1: ArrayLike, sigma1: ArrayLike, mu2: ArrayLike, sigma2: ArrayLike) -> float:
    """Squared Fréchet (2-Wasserstein) distance between N(mu1, sigma1) and N(mu2, sigma2), as FID reports it.

    d^2 = |mu1 - mu2|^2 + Tr(S1 + S2 - 2 (S1 S2)^{1/2})  (Dowson & Landau 1982; the FID of Heusel et al. 2017).

    S1 S2 is not symmetric, and a general matrix square root of it is slow and, for singular covariances,
    unstable. Write S1 S2 = A B with A = S1^{1/2}, B = S1^{1/2} S2: AB and BA share their eigenvalues, and
    BA = C = S1^{1/2} S2 S1^{1/2} is symmetric PSD, so Tr((S1 S2)^{1/2}) = sum_i sqrt(lambda_i(C)), which two
    symmetric eigendecompositions give stably.

    Args:
        mu1, mu2: (D,) means.
        sigma1, sigma2: (D, D) symmetric positive semi-definite covariances.

    Returns:
        d^2 >= 0 (tiny negative rounding results are clamped to 0).

    References:
        D. C. Dowson, B. V. Landau, "The Fréchet distance between multivariate normal distributions", J.
        Multivariate Anal. 12 (1982). M. Heusel et al., "GANs Trained by a Two Time-Scale Update Rule Converge
        to a Local Nash Equilibrium", NeurIPS 2017.
    """
    mu1, mu2 = (np.atleast_1d(_to_float64(m)) for m in (mu1, mu2))
    sigma1, sigma2 = (np.atleast_2d(_to_float64(s)) for s in (sigma1, sigma2))
    dim = mu1.shape[0]
    for name, value, shape in (
        ("mu1", mu1, (dim,)),
        ("mu2", mu2, (dim,)),
        ("sigma1", sigma1, (dim, dim)),
        ("sigma2", sigma2, (dim, dim)),
    ):
        if value.shape != shape:
            raise ValueError(f"{name} must have shape {shape} to match mu1, got {value.shape}")
    sqrt_sigma1 = _symmetric_sqrt(sigma1)
    inner = sqrt_sigma1 @ sigma2 @ sqrt_sigma1
    inner_eigenvalues = np.linalg.eigvalsh((inner + inner.T) / 2.0)
    trace_sqrt = float(np.sqrt(np.clip(inner_eigenvalues, 0.0, None)).sum())
    mean_term = float(np.sum((mu1 - mu2) ** 2))
    distance = mean_term + float(np.trace(sigma1) + np.trace(sigma2)) - 2.0 * trace_sqrt
    return max(distance, 0.0)

"""PyTorch helpers: a map-style dataset over a Sluice prefix, and epoch-aware prefetch.

    ds = SluiceDataset("sluice://data/train", transform=decode)
    sampler = PrefetchSampler(ds, shuffle=True, seed=0, window=512)
    loader = DataLoader(ds, batch_size=64, sampler=sampler, num_workers=8)
    for epoch in range(E):
        sampler.set_epoch(epoch)
        for batch in loader: ...

A sampler's order for an epoch is known before the epoch starts. PrefetchSampler draws it
(the wrapped sampler's indices, or RandomSampler's permutation for seed + epoch) and, as the
DataLoader takes index k, makes sure the samples up to k + window have been handed to the
cluster (Client.prefetch), in order, a chunk at a time: each sample's owner worker loads it
into its cache in the background, so the loader's own reads find it there.

Processes: a Client belongs to the process that made it. The dataset keeps only its options
and paths (it pickles without a Client) and asks ``sluice.client`` for the Client of the
process it runs in, so DataLoader workers (forked or spawned) each make their own. The
prefetch calls run in the process that iterates the sampler (the main one).
"""
import bisect
import errno
import warnings

import torch
import torch.utils.data

import sluice


def _namespace_prefix(prefix):
    p = prefix[len("sluice://"):] if prefix.startswith("sluice://") else prefix
    p = "/" + p.strip("/")
    if p == "/":
        raise ValueError("a dataset lives under a mount: give 'sluice://MOUNT[/prefix]'")
    return p + "/"


def random_order(n, seed):
    """The order RandomSampler(range(n), generator=torch.Generator().manual_seed(seed))
    yields (without replacement)."""
    g = torch.Generator()
    g.manual_seed(seed)
    return torch.randperm(n, generator=g).tolist()


class SluiceDataset(torch.utils.data.Dataset):
    """The objects under a prefix, sorted by path, as a map-style dataset.

    The prefix is listed once, recursively, at construction (``suffix`` keeps the keys that
    end with it). ``ds[i]`` is the bytes of object i, or ``transform(bytes)``; it reads the
    version the listing saw (one request, no stat) and, should the object have been replaced
    since, its current version. Client options as for ``sluice.Client``.
    """

    def __init__(self, prefix, transform=None, suffix=None, cluster=None, etcd=None,
                 token=None, memory_cache=0, client_options=None):
        self.prefix = _namespace_prefix(prefix)
        self.transform = transform
        self._client_args = dict(cluster=cluster, etcd=etcd, token=token,
                                 memory_cache=memory_cache, **(client_options or {}))
        stats, token_ = [], ""
        client = self.client()
        while True:
            objects, _, token_ = client.list(self.prefix, "", token_, 1000)
            stats += [o for o in objects if not o.is_dir and not o.path.endswith("/") and
                      (suffix is None or o.path.endswith(suffix))]
            if not token_:
                break
        stats.sort(key=lambda o: o.path)
        self.stats = stats
        self.paths = [o.path for o in stats]  # namespace paths: "/MOUNT/key"

    def client(self):
        """The Client of the calling process (created on first use there)."""
        return sluice.client(**self._client_args)

    def __len__(self):
        return len(self.stats)

    def read(self, index):
        """The bytes of sample `index`."""
        st = self.stats[index]
        try:
            with self.client().open(st) as r:
                return r.read()
        except OSError as e:
            if e.errno != errno.ESTALE:
                raise
            return self.client().read_all(st.path)  # replaced since the listing

    def __getitem__(self, index):
        data = self.read(index)
        return self.transform(data) if self.transform is not None else data

    def index_of(self, path):
        """The index of a namespace path ("/MOUNT/key"), or ValueError."""
        i = bisect.bisect_left(self.paths, path)
        if i == len(self.paths) or self.paths[i] != path:
            raise ValueError(f"{path} is not in the dataset")
        return i


class EpochPrefetcher:
    """Hands an epoch's samples to the cluster ahead of the loader, in order.

    ``start(order)`` takes the epoch's index order; ``advance(k)`` (the loader is taking
    order[k]) makes sure order[0 : k + window] has been sent: the first call sends the first
    window, later ones ``chunk`` more at a time, so between window and window + chunk - 1
    samples are ahead of the loader. ``prefetch_all()`` sends the rest of the epoch at once.
    Prefetch is advisory: a failed call is warned about once and the epoch goes on.
    Not thread-safe.
    """

    def __init__(self, dataset, window=256, chunk=None):
        if window < 1:
            raise ValueError("window must be at least 1")
        self.dataset = dataset
        self.window = window
        self.chunk = chunk if chunk is not None else max(1, window // 4)
        self.order = []
        self.submitted = 0  # order[:submitted] has been sent
        self.calls = 0      # prefetch requests made (one per chunk)
        self._warned = False

    def start(self, order):
        self.order = list(order)
        self.submitted = 0
        return self

    def advance(self, taken):
        need = min(len(self.order), taken + self.window)
        if need > self.submitted:
            self._send(min(len(self.order), max(need, self.submitted + self.chunk)))

    def prefetch_all(self):
        if self.submitted < len(self.order):
            self._send(len(self.order))

    def _send(self, target):
        paths = [self.dataset.paths[i] for i in self.order[self.submitted:target]]
        self.submitted = target
        self.calls += 1
        try:
            self.dataset.client().prefetch(paths)
        except (OSError, ValueError) as e:
            if not self._warned:
                warnings.warn(f"sluice prefetch failed (the epoch goes on without it): {e}")
                self._warned = True


class PrefetchSampler(torch.utils.data.Sampler):
    """A sampler that prefetches the epoch it yields.

    The order of an epoch is the wrapped ``sampler``'s (drawn once per epoch, then yielded
    as drawn), or, without one, ``random_order(len(dataset), seed + epoch)`` when ``shuffle``
    (RandomSampler's order for that generator seed) or 0..n-1. As the DataLoader takes
    index k, the samples up to k + ``window`` are sent to the cluster, ``chunk`` at a time.
    ``prefetch_epoch()`` sends the whole coming epoch at once, before the loader starts (for
    a cache that holds it); ``prefetch_all=True`` does so at the start of every epoch. Call
    ``set_epoch(e)`` before each epoch, as with DistributedSampler.
    """

    def __init__(self, dataset, sampler=None, *, shuffle=False, seed=0, window=256, chunk=None,
                 prefetch_all=False):
        self.dataset = dataset
        self.sampler = sampler
        self.shuffle = shuffle
        self.seed = seed
        self.epoch = 0
        self.prefetch_all = prefetch_all
        self.prefetcher = EpochPrefetcher(dataset, window=window, chunk=chunk)
        self._next = None  # the coming epoch's order, once drawn and handed to the prefetcher

    def set_epoch(self, epoch):
        """Sets the coming epoch, here and in the wrapped sampler when it has set_epoch (a
        DistributedSampler reshuffles by it)."""
        if epoch != self.epoch:
            self._next = None
        self.epoch = epoch
        if hasattr(self.sampler, "set_epoch"):
            self.sampler.set_epoch(epoch)

    def _draw(self):
        if self.sampler is not None:
            return [int(i) for i in self.sampler]
        n = len(self.dataset)
        if self.shuffle:
            return random_order(n, self.seed + self.epoch)
        return list(range(n))

    def order(self):
        """The indices the coming epoch will yield (drawn now if not yet)."""
        if self._next is None:
            self._next = self._draw()
            self.prefetcher.start(self._next)
        return self._next

    def prefetch_epoch(self):
        """Sends the whole coming epoch to the cluster now, in order; returns its order."""
        order = self.order()
        self.prefetcher.prefetch_all()
        return order

    def __iter__(self):
        order = self.order()
        self._next = None  # the next epoch draws anew (a wrapped sampler) or again (a seed)
        p = self.prefetcher
        if self.prefetch_all:
            p.prefetch_all()
        for k, i in enumerate(order):
            p.advance(k)
            yield i

    def __len__(self):
        return len(self.sampler) if self.sampler is not None else len(self.dataset)

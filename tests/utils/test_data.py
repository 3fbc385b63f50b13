"""tr.utils.data: batches equal PyTorch's on every path that draws no random numbers (fixture and live);
shuffles are reproducible per seed and cover the data; samplers, random_split, collate; bad input."""

import collections
import json

import numpy as np
import pytest
from conftest import fixture_module, require

import tinygrad_rnn as tr
from tinygrad_rnn.utils.data import (BatchSampler, ConcatDataset, DataLoader, Dataset, IterableDataset,
                                     RandomSampler, SequentialSampler, StackDataset, Subset, SubsetRandomSampler,
                                     TensorDataset, default_collate, get_worker_info, random_split)

fx = fixture_module("make_data_fixtures")
REF = np.load(fx.FIXTURE)


def _assert_same(got, ref):
    (meta, arrays), (rmeta, rarrays) = got, ref
    assert json.dumps(meta) == json.dumps(rmeta)          # containers, dtypes, shapes, strings, len()
    assert len(arrays) == len(rarrays)
    for a, r in zip(arrays, rarrays):
        assert a.dtype == r.dtype and a.shape == r.shape
        np.testing.assert_array_equal(a, r)


# cpu_only: the loader cases build their tensors on the CPU (as PyTorch's DataLoader does); the device path
# is test_batches_stay_on_the_datasets_device
@pytest.mark.cpu_only
@pytest.mark.parametrize("name", fx.LOADER_CASES)
def test_batches_match_fixture(name):
    meta = json.loads(str(REF[f"loader/{name}/meta"]))
    count = sum(1 for k in REF.files if k.startswith(f"loader/{name}/") and k != f"loader/{name}/meta")
    _assert_same(fx.run_loader(tr, name), (meta, [REF[f"loader/{name}/{i}"] for i in range(count)]))


@pytest.mark.cpu_only   # live torch on the host
@pytest.mark.parametrize("name", fx.LOADER_CASES)
def test_batches_match_live_torch(name):
    torch = require("torch")
    _assert_same(fx.run_loader(tr, name), fx.run_loader(torch, name))


@pytest.mark.cpu_only   # reads the fixture's keys: no array op runs
def test_fixture_covers_every_case():
    assert {k.split("/")[1] for k in REF.files if k.startswith("loader/")} == set(fx.LOADER_CASES), \
        "rerun tests/fixtures/make_data_fixtures.py"


def test_batches_stay_on_the_datasets_device(device):
    x = tr.randn(7, 3, device=device)
    y = tr.arange(7, device=device)
    batches = list(DataLoader(TensorDataset(x, y), batch_size=3))
    assert [b[0].shape for b in batches] == [(3, 3), (3, 3), (1, 3)]
    assert all(t.device == device for b in batches for t in b)
    np.testing.assert_array_equal(tr.cat([b[0] for b in batches]).numpy(), x.numpy())


# ----------------------------------------------------------------------------------------- worker threads
# cpu_only: the loader cases build their tensors on the CPU; threads change who fetches, not the arrays
@pytest.mark.cpu_only
@pytest.mark.parametrize("name", [n for n in fx.LOADER_CASES if not n.startswith("iterable")])
def test_worker_threads_give_the_same_batches(name, monkeypatch):
    single = fx.run_loader(tr, name)
    original = DataLoader.__init__

    def with_workers(self, *args, **kwargs):
        original(self, *args, **{**kwargs, "num_workers": 2, "prefetch_factor": 1})

    monkeypatch.setattr(DataLoader, "__init__", with_workers)
    _assert_same(fx.run_loader(tr, name), single)


def test_worker_info_init_fn_errors_and_early_exit(device):
    seen, started = [], []

    class Probe(Dataset):
        def __len__(self):
            return 40

        def __getitem__(self, i):
            info = get_worker_info()
            seen.append((info.id, info.num_workers, info.seed - info.id))
            if i == 37:
                raise KeyError("sample 37 is broken")
            return tr.full((2,), float(i), device=device)

    loader = DataLoader(Probe(), batch_size=4, num_workers=3, worker_init_fn=started.append)
    it = iter(loader)
    first = [next(it) for _ in range(3)]
    assert [b[:, 0].tolist() for b in first] == [[0.0, 1.0, 2.0, 3.0], [4.0, 5.0, 6.0, 7.0],
                                                  [8.0, 9.0, 10.0, 11.0]]
    assert all(b.device == device for b in first)
    it.close()                                   # leaving early stops the threads
    assert get_worker_info() is None
    assert {w for w, _, _ in seen} <= {0, 1, 2} and {n for _, n, _ in seen} == {3}
    assert len({base for _, _, base in seen}) == 1 and sorted(started) == sorted(set(started))
    assert set(started) <= {0, 1, 2} and started
    with pytest.raises(KeyError, match="sample 37 is broken"):
        for _ in loader:
            pass


# ----------------------------------------------------------------------------------------- shuffles
def _orders(loader, epochs=3):
    return [[int(v) for b in loader for v in b[1].tolist()] for _ in range(epochs)]


def test_shuffle_is_reproducible_per_seed_and_covers_every_sample(device):
    ds = TensorDataset(tr.zeros(23, 2, device=device), tr.arange(23, device=device))
    runs = [_orders(DataLoader(ds, batch_size=5, shuffle=True, generator=tr.Generator().manual_seed(s)))
            for s in (1, 1, 2)]
    assert runs[0] == runs[1] and runs[0] != runs[2]        # same seed, same orders; another seed, others
    assert len({tuple(o) for o in runs[0]}) == 3            # each epoch a new order
    for order in runs[0] + runs[2]:
        assert sorted(order) == list(range(23))
    # without a generator, each pass seeds from the default generator: tr.manual_seed fixes them
    tr.manual_seed(7)
    a = _orders(DataLoader(ds, batch_size=5, shuffle=True))
    tr.manual_seed(7)
    assert _orders(DataLoader(ds, batch_size=5, shuffle=True)) == a


def test_shuffle_drop_last_batch_structure(device):
    ds = TensorDataset(tr.randn(23, 4, device=device), tr.arange(23, device=device))
    loader = DataLoader(ds, batch_size=5, shuffle=True, drop_last=True, generator=tr.Generator().manual_seed(0))
    batches = list(loader)
    assert len(loader) == len(batches) == 4 and all(b[0].shape == (5, 4) for b in batches)
    seen = [int(v) for b in batches for v in b[1].tolist()]
    assert len(set(seen)) == 20
    loader = DataLoader(ds, batch_size=5, shuffle=True, generator=tr.Generator().manual_seed(0))
    assert len(loader) == 5 and [len(b[1]) for b in loader] == [5, 5, 5, 5, 3]


@pytest.mark.cpu_only   # index sampling: plain Python ints
def test_random_sampler_replacement_and_num_samples():
    g = tr.Generator().manual_seed(3)
    draws = list(RandomSampler(range(4), replacement=True, num_samples=50, generator=g))
    assert len(draws) == 50 and set(draws) <= set(range(4)) and len(set(draws)) == 4
    chained = list(RandomSampler(range(5), num_samples=12, generator=g))
    assert len(chained) == 12 and sorted(chained[:5]) == sorted(chained[5:10]) == list(range(5))
    assert len(set(chained[10:])) == 2
    assert len(RandomSampler(range(5), num_samples=12)) == 12
    sub = list(SubsetRandomSampler([10, 20, 30, 40], generator=tr.Generator().manual_seed(0)))
    assert sorted(sub) == [10, 20, 30, 40]


@pytest.mark.cpu_only   # index bookkeeping against live torch: plain Python ints
def test_samplers_match_torch_where_nothing_is_drawn():
    torch = require("torch")
    for n, bs, drop in [(10, 3, False), (10, 3, True), (9, 3, True), (1, 4, False), (0, 2, False)]:
        ours = BatchSampler(SequentialSampler(range(n)), bs, drop)
        ref = torch.utils.data.BatchSampler(torch.utils.data.SequentialSampler(range(n)), bs, drop)
        assert list(ours) == list(ref) and len(ours) == len(ref)
    split_sizes = {}
    for m in (tr, torch):
        split_sizes[m.__name__] = [[len(s) for s in m.utils.data.random_split(range(n), fracs)]
                                   for n, fracs in [(10, [0.5, 0.5]), (11, [0.3, 0.3, 0.4]), (7, [0.1, 0.9]),
                                                    (5, [3, 2])]]
    assert split_sizes["tinygrad_rnn"] == split_sizes["torch"]


@pytest.mark.cpu_only   # index bookkeeping: plain Python ints
def test_random_split_is_a_seeded_partition():
    parts = random_split(range(20), [0.5, 0.3, 0.2], generator=tr.Generator().manual_seed(4))
    assert [len(p) for p in parts] == [10, 6, 4]
    flat = [p[i] for p in parts for i in range(len(p))]
    assert sorted(flat) == list(range(20))
    again = random_split(range(20), [10, 6, 4], generator=tr.Generator().manual_seed(4))
    assert [list(p.indices) for p in again] == [list(p.indices) for p in parts]
    assert isinstance(parts[0], Subset) and parts[0].dataset == range(20)
    with pytest.raises(ValueError, match="Sum of input lengths does not equal"):
        random_split(range(5), [2, 2])
    with pytest.raises(ValueError, match="lengths"):
        random_split(range(5), [2.5, 2.5])


# ----------------------------------------------------------------------------------------- collate and datasets
def test_default_collate_types(device):
    Point = collections.namedtuple("Point", "x y")
    batch = [{"t": tr.ones(2, device=device), "p": Point(1, 2.5), "b": True, "s": "a", "n": np.int32(3)},
             {"t": tr.zeros(2, device=device), "p": Point(3, 4.5), "b": False, "s": "b", "n": np.int32(4)}]
    out = default_collate(batch)
    assert out["t"].shape == (2, 2) and out["t"].device == device
    assert isinstance(out["p"], Point) and out["p"].x.dtype == tr.int64 and out["p"].y.dtype == tr.float64
    assert out["b"].dtype == tr.bool and out["s"] == ["a", "b"] and out["n"].dtype == tr.int32
    with pytest.raises(RuntimeError, match="each element in list of batch should be of equal size"):
        default_collate([[1, 2], [3]])
    with pytest.raises(TypeError, match="default_collate: batch must contain tensors"):
        default_collate([object(), object()])
    with pytest.raises(TypeError, match="default_collate: batch must contain tensors"):
        default_collate([np.array(["a"]), np.array(["b"])])


def test_datasets(device):
    x, y = tr.randn(5, 2, device=device), tr.arange(5, device=device)
    ds = TensorDataset(x, y)
    assert len(ds) == 5 and ds[2][0].shape == (2,) and int(ds[2][1].item()) == 2
    both = ds + ds
    assert isinstance(both, ConcatDataset) and len(both) == 10 and int(both[7][1].item()) == 2
    assert int(both[-1][1].item()) == 4
    with pytest.raises(IndexError, match="out of range"):
        both[10]
    stacked = StackDataset(a=ds, b=range(5))
    assert set(stacked[1]) == {"a", "b"} and stacked[1]["b"] == 1
    sub = Subset(ds, [4, 0])
    assert len(sub) == 2 and int(sub[0][1].item()) == 4
    with pytest.raises(ValueError, match="Size mismatch between tensors"):
        TensorDataset(x, tr.arange(4, device=device))
    with pytest.raises(NotImplementedError, match="__getitem__"):
        Dataset()[0]


@pytest.mark.cpu_only   # pure Python streaming: no arrays
def test_iterable_dataset_len_and_batching():
    class Stream(IterableDataset):
        def __iter__(self):
            return iter(range(7))

    class SizedStream(Stream):
        def __len__(self):
            return 7

    assert [b.tolist() for b in DataLoader(Stream(), batch_size=3)] == [[0, 1, 2], [3, 4, 5], [6]]
    with pytest.raises(TypeError):
        len(DataLoader(Stream(), batch_size=3))
    assert len(DataLoader(SizedStream(), batch_size=3)) == 3
    assert len(DataLoader(SizedStream(), batch_size=3, drop_last=True)) == 2
    assert [int(v) for v in DataLoader(Stream(), batch_size=None)] == list(range(7))


@pytest.mark.cpu_only   # argument validation: raises before any batch is loaded
def test_bad_input():
    ds = TensorDataset(tr.zeros(4, 2), tr.arange(4))
    with pytest.raises(ValueError, match="sampler option is mutually exclusive with shuffle"):
        DataLoader(ds, shuffle=True, sampler=[0, 1])
    with pytest.raises(ValueError, match="batch_sampler option is mutually exclusive"):
        DataLoader(ds, batch_size=2, batch_sampler=[[0, 1]])
    with pytest.raises(ValueError, match="mutually exclusive with drop_last"):
        DataLoader(ds, batch_size=None, drop_last=True)
    with pytest.raises(ValueError, match="num_workers option should be non-negative"):
        DataLoader(ds, num_workers=-1)
    with pytest.raises(ValueError, match="batch_size should be a positive integer"):
        DataLoader(ds, batch_size=0)
    with pytest.raises(TypeError, match="tr.Generator"):
        DataLoader(ds, shuffle=True, generator=np.random.default_rng(0))
    with pytest.raises(ValueError, match="persistent_workers option needs num_workers > 0"):
        DataLoader(ds, persistent_workers=True)

    class Stream(IterableDataset):
        def __iter__(self):
            return iter(range(3))

    with pytest.raises(ValueError, match="expected unspecified shuffle option"):
        DataLoader(Stream(), shuffle=True)
    with pytest.raises(ValueError, match="IterableDataset: num_workers=2 is not supported"):
        DataLoader(Stream(), num_workers=2)
    with pytest.raises(ValueError, match="prefetch_factor option could only be specified"):
        DataLoader(ds, prefetch_factor=2)
    with pytest.raises(TypeError, match="worker_init_fn"):
        DataLoader(ds, num_workers=1, worker_init_fn=3)
    with pytest.raises(ValueError, match="expected unspecified sampler option"):
        DataLoader(Stream(), sampler=[0])
    with pytest.raises(ValueError, match="num_samples should be a positive integer"):
        RandomSampler(range(3), num_samples=0)
    with pytest.raises(TypeError, match="replacement should be a boolean"):
        RandomSampler(range(3), replacement=1)
    with pytest.raises(ValueError, match="batch_size should be a positive integer"):
        BatchSampler(range(3), 0, False)
    with pytest.raises(ValueError, match="drop_last should be a boolean"):
        BatchSampler(range(3), 2, None)

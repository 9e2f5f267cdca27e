from img2gs.data.selection import data_source, spread_samples


def test_samples_are_spread_over_every_source_and_along_each():
    ids = [f"procedural/{i}" for i in range(100)] + [f"organic/{i}" for i in range(40)] + \
          [f"meshes/cat/{i}.obj" for i in range(10)]
    chosen = spread_samples(ids, 9)
    sources = [data_source(ids[i]) for i in chosen]
    assert sources.count("procedural") == sources.count("organic") == sources.count("meshes") == 3
    procedural = [i for i in chosen if ids[i].startswith("procedural")]
    assert procedural == [0, 33, 66]  # evenly spaced, not the first three
    assert len(set(chosen)) == 9


def test_a_small_source_gives_its_share_to_the_others():
    ids = [f"procedural/{i}" for i in range(50)] + ["organic/0"]
    chosen = spread_samples(ids, 6)
    assert len(chosen) == 6 and sum(ids[i] == "organic/0" for i in chosen) == 1

"""The console's first load, hls.js included, stays within 300 KB gzipped (issue 19), counted on
the files `make console` built (`make test` builds them first)."""

from bench.console_size import TARGET_KB, assets


def test_the_first_load_with_the_player_fits_the_budget():
    listed = assets()
    first = [a for a in listed if a.first_load]
    assert {a.name for a in first} >= {"index.html", "config.json"}
    assert any(a.name.endswith(".js") for a in first) and any(a.name.endswith(".css") for a in first)
    player = [a for a in listed if not a.first_load and a.name.endswith(".js")]
    assert player, "hls.js is its own chunk, fetched when a player opens"
    assert sum(a.gzipped for a in listed) <= TARGET_KB * 1000

"""HLS playlists rewritten for a browser (functions.api.playlists): every object a playlist names in
its job's folder presigned, every playlist routed back through the API, anything else untouched."""

import pytest

from functions.api.playlists import AnswerTooLarge, playlist_route, rewrite

FOLDER = "outputs/owner/job/"


def signed(key: str) -> str:
    return f"https://media.example/{key}?sig=1"


def test_segments_init_sections_keys_and_playlists_are_replaced_and_the_rest_kept():
    text = (
        "#EXTM3U\n"
        "#EXT-X-VERSION:7\n"
        '#EXT-X-KEY:METHOD=AES-128,URI="keys/k1.bin"\n'
        '#EXT-X-MAP:URI="v_init.mp4"\n'
        "#EXTINF:2.000,\n"
        "v_00000.m4s\n"
        "\n"
        "#EXTINF:2.000,\n"
        "  sub/v%2000001.m4s  \n"
        '#EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID="a",URI="audio.m3u8"\n'
        "#EXT-X-ENDLIST"
    )
    out = rewrite(text, f"{FOLDER}v.m3u8", within=FOLDER, link=signed).splitlines()
    assert out[:2] == ["#EXTM3U", "#EXT-X-VERSION:7"]
    assert out[2] == f'#EXT-X-KEY:METHOD=AES-128,URI="{signed(FOLDER + "keys/k1.bin")}"'
    assert out[3] == f'#EXT-X-MAP:URI="{signed(FOLDER + "v_init.mp4")}"'
    assert out[5] == signed(FOLDER + "v_00000.m4s")
    assert out[6] == ""
    assert out[8] == signed(FOLDER + "sub/v 00001.m4s")  # percent-decoded to the object's key
    assert out[9] == f'#EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID="a",URI="{playlist_route(FOLDER + "audio.m3u8")}"'
    assert out[10] == "#EXT-X-ENDLIST"


def test_a_reference_outside_the_jobs_folder_or_absolute_is_left_as_it_is():
    text = "../other-job/secret.ts\n../../x.ts\nhttps://cdn.example/a.ts\n/outputs/owner/job/abs.ts\n"
    out = rewrite(text, f"{FOLDER}v.m3u8", within=FOLDER, link=signed).splitlines()
    assert out == [
        "../other-job/secret.ts",
        "../../x.ts",
        "https://cdn.example/a.ts",
        "/outputs/owner/job/abs.ts",
    ]


def test_a_playlist_route_is_relative_and_quotes_the_key():
    assert playlist_route("outputs/o/j/a b&c.m3u8") == "playlist?key=outputs/o/j/a%20b%26c.m3u8"


def test_only_uri_attributes_are_rewritten_whatever_other_quoted_values_hold():
    line = '#EXT-X-MEDIA:TYPE=AUDIO,NAME="xURI=",GROUP-ID="a,URI=b",URI="audio.m3u8"'
    (out,) = rewrite(line, f"{FOLDER}m.m3u8", within=FOLDER, link=signed).splitlines()
    route = playlist_route(FOLDER + "audio.m3u8")
    assert out == f'#EXT-X-MEDIA:TYPE=AUDIO,NAME="xURI=",GROUP-ID="a,URI=b",URI="{route}"'
    assert rewrite('# a comment URI="x.ts"', f"{FOLDER}m.m3u8", within=FOLDER, link=signed) == (
        '# a comment URI="x.ts"\n'
    )


def test_a_bom_crlf_and_keys_with_empty_segments_or_a_trailing_slash_are_read_as_written():
    text = "\ufeff#EXTM3U\r\n#EXTINF:2,\r\na//b.ts\r\n#EXTINF:2,\r\nc.ts/\r\n#EXT-X-ENDLIST\r\n"
    out = rewrite(text, f"{FOLDER}v.m3u8", within=FOLDER, link=signed).splitlines()
    assert out == [
        "#EXTM3U",
        "#EXTINF:2,",
        signed(FOLDER + "a//b.ts"),
        "#EXTINF:2,",
        signed(FOLDER + "c.ts/"),
        "#EXT-X-ENDLIST",
    ]


def test_each_object_is_signed_once_and_an_answer_too_large_is_refused():
    calls: list[str] = []

    def counting(key: str) -> str:
        calls.append(key)
        return signed(key)

    byte_ranges = "".join(f"#EXT-X-BYTERANGE:1000@{n * 1000}\n#EXTINF:2,\nall.ts\n" for n in range(50))
    rewrite(byte_ranges, f"{FOLDER}v.m3u8", within=FOLDER, link=counting)
    assert calls == [FOLDER + "all.ts"]
    many = "".join(f"#EXTINF:2,\ns{n}.ts\n" for n in range(5000))
    with pytest.raises(AnswerTooLarge):
        rewrite(many, f"{FOLDER}v.m3u8", within=FOLDER, link=lambda key: "https://x/" + "s" * 1400)

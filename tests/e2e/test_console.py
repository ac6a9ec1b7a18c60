"""The jobs console in a real Chromium against the local stack, as its users use it: sign in (the
local stand-in for Cognito: OIDC code flow with PKCE), upload a generated video, submit, watch the
job reach COMPLETED, play its HLS output, read a failed job's reason, cancel a running job; each
owner sees only its jobs; accessible (axe-core) and usable on a phone-sized screen."""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, Page, expect

from cpe_client.client import JobsClient
from engine import activities
from local import sample_media
from local.console import CLIENT_ID, OPERATOR, ConsoleStack, console_stack
from tests.e2e.browser import accessibility_violations, browser, screenshot

pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group("local-stack")]
__all__ = ["browser"]  # the fixture, shared by the console's test modules

# Bounds for a stack that may be starved of CPU, never expectations of speed.
JOB_ENDS_MS = 300_000
PAGE_MS = 60_000
PHONE = {"width": 375, "height": 740}
expect.set_options(timeout=PAGE_MS)


@pytest.fixture(scope="module")
def served() -> Iterator[ConsoleStack]:
    with console_stack(engine_jobs=1, progress_interval=0.5) as running:
        yield running


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return sample_media.video(
        tmp_path_factory.mktemp("console") / "holiday clip.mp4", seconds=4, size=(320, 180)
    )


def signed_in(browser: Browser, served: ConsoleStack, user: str, **context: Any) -> Page:
    page = browser.new_context(**context).new_page()
    page.set_default_timeout(PAGE_MS)
    page.goto(served.console.url)
    page.get_by_role("button", name="Sign in").click()
    page.get_by_label("Your name").fill(user)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", name="Jobs", exact=True)).to_be_visible()
    expect(page.get_by_text(user, exact=True)).to_be_visible()
    return page


def menu(page: Page, name: str) -> Any:
    return page.get_by_role("navigation", name="Main").get_by_role("link", name=name)


def submit(page: Page, file: Path, *, outputs: set[str] | None = None) -> str:
    """Submits ``file`` from the submit page; the new job's id (the page it lands on)."""
    menu(page, "Submit").click()
    page.get_by_label("Video, audio or image file").set_input_files(str(file))
    if outputs is not None:
        for box in page.get_by_role("checkbox").all():
            label = box.evaluate("b => b.parentElement.textContent")
            box.set_checked(any(word in label for word in outputs))
    page.get_by_role("button", name="Submit job").click()
    expect(page.get_by_role("alert")).to_have_count(0)
    expect(page).to_have_url(re.compile(r"#/jobs/[0-9a-f]{32}$"))
    return page.url.rsplit("/", 1)[1]


def status_of(page: Page) -> Any:
    return expect(page.get_by_test_id("status"))


def assert_accessible(page: Page) -> None:
    assert accessibility_violations(page) == []


# ------------------------------------------------------------------ the whole journey


def test_sign_in_upload_submit_watch_it_complete_and_play_its_hls_output(
    browser: Browser, served: ConsoleStack, clip: Path
):
    page = signed_in(browser, served, "alice")
    assert_accessible(page)
    menu(page, "Submit").click()
    expect(page.get_by_role("heading", name="Submit a job")).to_be_visible()
    assert_accessible(page)
    screenshot(page, "submit")

    job_id = submit(page, clip, outputs={"MP4", "HLS", "Thumbnails", "Adaptive", "Storyboard"})
    expect(page.get_by_role("heading", name=f"Job {job_id}")).to_be_visible()
    status_of(page).to_contain_text("completed", timeout=JOB_ENDS_MS)
    # Every activity done, the input's probe read, every output linked.
    expect(page.get_by_role("row").filter(has_text="ValidateAsset")).to_contain_text("completed")
    expect(page.get_by_text("h264, 320\u00d7180, 25 fps")).to_be_visible()
    objects = page.locator("table.objects tbody tr")
    expect(objects.filter(has_text="video/video.mp4")).to_have_count(1)
    expect(objects.filter(has_text="hls/stream.m3u8")).to_have_count(1)
    thumbnail = page.locator(".gallery img").first
    expect(thumbnail).to_be_visible()
    page.wait_for_function("img => img.complete && img.naturalWidth > 0", arg=thumbnail.element_handle())
    timeline = page.get_by_role("region", name="Timeline")
    expect(timeline).to_contain_text("workflow completed")

    expect(objects.filter(has_text="abr/master.m3u8")).to_have_count(1)
    expect(objects.filter(has_text="storyboard/storyboard.vtt")).to_have_count(1)

    # The HLS output and the adaptive package play: hls.js reads the playlists through the API
    # (GET /jobs/{id}/playlist, with the user's token), then the segments (MPEG-TS; CMAF's init and
    # .m4s, audio apart) from S3 through the presigned links the API put in them.
    for playlist in ("hls/stream.m3u8", "abr/master.m3u8"):
        player = page.locator(f"video[aria-label^='HLS: '][aria-label$='{playlist}']")
        player.evaluate("video => video.play()")
        page.wait_for_function("video => video.currentTime > 1", arg=player.element_handle())
        assert player.evaluate("video => video.videoWidth") == 320
    # Only what the job's outputs name is played, not a package's parts (its CMAF init segments).
    expect(page.locator("figure.player video, figure.player audio")).to_have_count(3)
    assert_accessible(page)
    screenshot(page, "job")

    page.get_by_role("link", name="All jobs").click()
    row = page.locator(f"tr[data-job='{job_id}']")
    expect(row).to_contain_text("completed")
    screenshot(page, "jobs")


def test_a_failed_job_shows_its_reason_in_the_list_and_on_its_page(
    browser: Browser, served: ConsoleStack, tmp_path: Path
):
    broken = tmp_path / "broken.mp4"
    broken.write_bytes(b"this is not a video, whatever its name says\n" * 100)
    page = signed_in(browser, served, "carol")
    job_id = submit(page, broken, outputs={"MP4"})
    status_of(page).to_contain_text("failed", timeout=JOB_ENDS_MS)
    why = page.get_by_role("region", name="Why it failed")
    expect(why).to_contain_text("INPUT_NOT_MEDIA")
    assert_accessible(page)
    screenshot(page, "failed")

    # The list filtered by status shows it, and only failed jobs.
    menu(page, "Jobs").click()
    page.get_by_label("Status").select_option("FAILED")
    page.get_by_role("button", name="Apply filters").click()
    rows = page.locator("tbody tr[data-job]")
    expect(rows).to_have_count(1)
    expect(rows.first).to_have_attribute("data-job", job_id)
    page.get_by_label("Status").select_option("COMPLETED")
    page.get_by_role("button", name="Apply filters").click()
    expect(page.get_by_text("No jobs match these filters")).to_be_visible()


def test_a_running_job_is_canceled_from_its_page(
    browser: Browser, served: ConsoleStack, clip: Path, monkeypatch: pytest.MonkeyPatch
):
    # The engine's probe of the input is held until the user has canceled: the job is running
    # whatever this machine's speed, and the output's task, sent next, finds it canceled at its start.
    started, release = threading.Event(), threading.Event()
    probe = activities.probe

    def held(*args: Any, **kwargs: Any) -> Any:
        started.set()
        release.wait(timeout=JOB_ENDS_MS / 1000)
        return probe(*args, **kwargs)

    monkeypatch.setattr(activities, "probe", held)
    try:
        page = signed_in(browser, served, "dave")
        submit(page, clip, outputs={"MP4"})
        status_of(page).to_contain_text("running")
        assert started.wait(timeout=JOB_ENDS_MS / 1000)
        page.get_by_role("button", name="Cancel job").click()
        page.get_by_role("button", name="Yes, cancel the job").click()
        status_of(page).to_contain_text("cancel requested")
        expect(page.get_by_role("button", name="Cancel job")).to_have_count(0)
    finally:
        release.set()
    status_of(page).to_contain_text("canceled", timeout=JOB_ENDS_MS)
    expect(page.get_by_role("region", name="Timeline")).to_contain_text("workflow canceled")


def test_each_owner_sees_only_its_own_jobs_and_an_operator_sees_everyones(
    browser: Browser, served: ConsoleStack, clip: Path
):
    alice = signed_in(browser, served, "erin")
    job_id = submit(alice, clip, outputs={"Thumbnails"})
    status_of(alice).to_contain_text("completed", timeout=JOB_ENDS_MS)

    bob = signed_in(browser, served, "frank")
    expect(bob.locator(f"tr[data-job='{job_id}']")).to_have_count(0)
    bob.goto(f"{served.console.url}#/jobs/{job_id}")
    expect(bob.get_by_role("alert")).to_contain_text("There is no such job, or it is not yours.")

    operator = signed_in(browser, served, OPERATOR)
    expect(operator.locator(f"tr[data-job='{job_id}']")).to_contain_text("completed")


def test_errors_are_told_in_plain_words(browser: Browser, served: ConsoleStack, clip: Path):
    page = signed_in(browser, served, "grace")
    menu(page, "Submit").click()
    page.get_by_role("button", name="Submit job").click()
    expect(page.get_by_role("alert")).to_have_text("Choose a file to transcode.")

    page.get_by_role("radio", name="Paste a job (JSON)").check()
    page.get_by_label(re.compile("The CT job")).fill('{"output_assets": [')
    page.get_by_role("button", name="Submit job").click()
    expect(page.get_by_role("alert")).to_contain_text("The job is not valid JSON")

    # A job the API refuses: the fields it names, not a status code.
    page.get_by_label("Video, audio or image file").set_input_files(str(clip))
    page.get_by_label(re.compile("The CT job")).fill(
        '{"output_assets": [{"type": "HOLOGRAM", "bucket": "some-bucket", "file": "/x.mp4"}]}'
    )
    page.get_by_role("button", name="Submit job").click()
    alert = page.get_by_role("alert")
    expect(alert).to_contain_text("The request was refused.")
    expect(alert).to_contain_text("type")

    # A job id already taken: the API claimed the request's Idempotency-Key before refusing it, so
    # the corrected job must go as a new request (the same key with another body is refused).
    api = JobsClient(
        served.stack.api_url, token=served.issuer.token("grace", client_id=CLIENT_ID), timeout=60
    )
    grant = api.upload(clip)
    thumb = {"type": "THUMB", "bucket": grant["input_asset"]["bucket"]}
    api.submit(
        {
            "jobId": "taken-by-grace",
            "input_asset": grant["input_asset"],
            "output_asset": {**thumb, "file": f"{grant['output_prefix']}first/t.jpg"},
        }
    )
    for job_id, expected in (("taken-by-grace", "That job id is taken"), ("grace-second", None)):
        pasted = {"jobId": job_id, "output_asset": {**thumb, "file": f"{grant['output_prefix']}second/t.jpg"}}
        page.get_by_label(re.compile("The CT job")).fill(json.dumps(pasted))
        page.get_by_role("button", name="Submit job").click()
        if expected:
            expect(page.get_by_role("alert")).to_contain_text(expected)
    expect(page).to_have_url(re.compile(r"#/jobs/grace-second$"))

    # A page that does not exist, and a token the API no longer takes.
    page.goto(f"{served.console.url}#/nowhere")
    expect(page.get_by_role("heading", name="Not found")).to_be_visible()
    page.evaluate("() => sessionStorage.clear()")
    page.reload()
    expect(page.get_by_role("button", name="Sign in")).to_be_visible()


def test_a_phone_sized_screen_and_a_keyboard_reach_everything(
    browser: Browser, served: ConsoleStack, clip: Path
):
    page = signed_in(browser, served, "heidi", viewport=PHONE, is_mobile=True, has_touch=True)
    job_id = submit(page, clip, outputs={"Thumbnails"})
    status_of(page).to_contain_text("completed", timeout=JOB_ENDS_MS)
    for where in (f"#/jobs/{job_id}", "#/jobs", "#/submit"):
        page.goto(f"{served.console.url}{where}")
        page.locator("main h1").wait_for()
        overflow = page.evaluate("() => document.documentElement.scrollWidth - window.innerWidth")
        assert overflow <= 0, f"{where} is wider than the screen by {overflow} px"
        assert_accessible(page)
        if where.startswith("#/jobs/"):
            screenshot(page, "phone")

    # The keyboard: the first Tab reaches "Skip to content", which moves focus to the page.
    page.goto(f"{served.console.url}#/jobs")
    page.reload()  # a fresh page: nothing focused yet
    page.locator("main h1").wait_for()
    page.keyboard.press("Tab")
    assert page.evaluate("() => document.activeElement.textContent") == "Skip to content"
    page.keyboard.press("Enter")
    assert page.evaluate("() => document.activeElement.id") == "main"
    page.keyboard.press("Tab")  # from the page's start: its first control, the status filter
    assert page.evaluate("() => document.activeElement.getAttribute('name')") == "status"


def test_pages_of_jobs_go_older_and_newer_and_a_new_query_starts_afresh(
    browser: Browser, served: ConsoleStack, clip: Path
):
    # Three jobs of one owner, submitted through the API with the token the console would get.
    token = served.issuer.token("ivan", client_id=CLIENT_ID)
    api = JobsClient(served.stack.api_url, token=token, timeout=JOB_ENDS_MS / 1000)
    grant = api.upload(clip)
    bucket = grant["input_asset"]["bucket"]
    submitted = [
        api.submit(
            {
                "input_asset": grant["input_asset"],
                "output_asset": {
                    "type": "THUMB",
                    "bucket": bucket,
                    "file": f"{grant['output_prefix']}p{n}/t.jpg",
                },
            }
        )["jobId"]
        for n in range(3)
    ]
    page = signed_in(browser, served, "ivan")
    page.goto(f"{served.console.url}#/jobs?limit=2")
    rows = page.locator("tbody tr[data-job]")
    expect(rows).to_have_count(2)
    first_page = [rows.nth(i).get_attribute("data-job") for i in range(2)]
    assert first_page == submitted[:0:-1]  # newest first
    page.get_by_role("button", name="Older jobs").click()
    expect(rows).to_have_count(1)
    expect(rows.first).to_have_attribute("data-job", submitted[0])
    expect(page.get_by_role("button", name="Older jobs")).to_be_disabled()
    page.get_by_role("button", name="Newer jobs").click()
    expect(rows).to_have_count(2)
    # Another query (the menu's) from the second page: its own first page, no token of the other's.
    page.get_by_role("button", name="Older jobs").click()
    expect(rows).to_have_count(1)
    menu(page, "Jobs").click()
    expect(rows).to_have_count(3)
    expect(page.get_by_role("alert")).to_have_count(0)


def test_a_token_the_api_refuses_asks_to_sign_in_again(browser: Browser, served: ConsoleStack):
    page = signed_in(browser, served, "judy")
    # The stored session's token is no longer one the API takes (revoked, or from another issuer).
    page.evaluate(
        """() => {
            const key = Object.keys(sessionStorage).find((k) => k.startsWith("oidc.user:"));
            const user = JSON.parse(sessionStorage.getItem(key));
            user.access_token = user.access_token.slice(0, -8) + "AAAAAAAA";
            sessionStorage.setItem(key, JSON.stringify(user));
        }"""
    )
    page.reload()
    alert = page.get_by_role("alert")
    expect(alert).to_contain_text("You are not signed in, or your sign-in has expired.")
    alert.get_by_role("button", name="Sign in again").click()
    page.get_by_label("Your name").fill("judy")
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", name="Jobs", exact=True)).to_be_visible()
    expect(page.get_by_role("alert")).to_have_count(0)


def test_a_long_hls_output_plays_to_its_end_though_the_job_lists_fewer_objects_than_it_wrote(
    browser: Browser, served: ConsoleStack, tmp_path: Path
):
    """A job shows at most 50 objects: here its thumbnails and segments are more. The player still
    reaches the last segment, which no listed link names: the API signs the playlist it serves."""
    long_clip = sample_media.video(tmp_path / "long.mp4", seconds=150, size=(160, 90))
    page = signed_in(browser, served, "kate")
    job_id = submit(page, long_clip, outputs={"HLS", "Thumbnails"})
    status_of(page).to_contain_text("completed", timeout=JOB_ENDS_MS)
    job = JobsClient(
        served.stack.api_url, token=served.issuer.token("kate", client_id=CLIENT_ID), timeout=60
    ).get(job_id)
    segments = [o for o in job["outputs"] if o["key"].endswith(".ts")]
    assert len(segments) < 25, len(segments)  # 25 segments written (150 s in 6 s), not all listed

    player = page.locator("video[aria-label^='HLS: '][aria-label$='hls/stream.m3u8']")
    player.evaluate("video => video.play()")
    page.wait_for_function("video => video.duration > 140", arg=player.element_handle())
    player.evaluate("video => { video.currentTime = video.duration - 4; }")
    page.wait_for_function("video => video.currentTime > video.duration - 2", arg=player.element_handle())
    expect(page.locator("figure.player [role=alert]")).to_have_count(0)

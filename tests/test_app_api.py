"""The real app on a local port, driven through gradio_client: /animate, /compare, and readable errors."""

from __future__ import annotations

import numpy as np
import pytest
from gradio_client import Client, handle_file
from PIL import Image

from model.audio.decode import SAMPLE_RATE, load_audio
from tests.app_server import ASSETS, mp4_facts, running_app
from tests.test_pose_video import _write_video

SPEECH = ASSETS / "en_hello.wav"
PORTRAIT = ASSETS / "astronaut_photo.jpg"


@pytest.fixture(scope="module")
def client(small_weights, tmp_path_factory):
    root = tmp_path_factory.mktemp("app_api")
    with running_app(root, small_weights) as url:
        yield Client(url, verbose=False, download_files=str(root / "downloads"))


def _seconds(path) -> float:
    return load_audio(path).size / SAMPLE_RATE


def test_named_endpoints(client) -> None:
    endpoints = client.view_api(print_info=False, return_format="dict")["named_endpoints"]
    assert {"/animate", "/compare"} <= set(endpoints)
    names = [p["parameter_name"] for p in endpoints["/animate"]["parameters"]]
    assert names[:6] == ["image", "audio", "mode", "quality", "guidance_scale", "seed"]
    assert all(p["parameter_has_default"] for p in endpoints["/animate"]["parameters"][2:])


def test_animate_returns_an_mp4(client) -> None:
    video, info = client.predict(handle_file(str(PORTRAIT)), handle_file(str(SPEECH)), mode="human", quality="fast",
                                 seed=3, api_name="/animate")
    kinds, duration, size = mp4_facts(video)
    assert kinds == {"video": "h264", "audio": "aac"}
    assert abs(duration - _seconds(SPEECH)) < 0.1
    assert size == (512, 512)  # pasted back into the 512x512 photo
    assert "frames" in info and "render" in info and "From the cache" in info


def test_compare_reuses_the_motion(client) -> None:
    images = [handle_file(str(PORTRAIT)), handle_file(str(ASSETS / "hopper_photo.jpg"))]
    video, info = client.predict(images, [handle_file(str(SPEECH))], "4", "7", "human", "fast", api_name="/compare")
    kinds, duration, size = mp4_facts(video)
    assert kinds == {"video": "h264", "audio": "aac"}
    assert abs(duration - _seconds(SPEECH)) < 0.1
    assert size == (2 * 320, 320 + 32)  # two cells side by side under their labels
    assert "2 videos" in info and "reused from the cache for 1 of them" in info


def test_missing_weights_fail_with_the_list(tmp_path) -> None:
    from gradio_client.exceptions import AppError

    with running_app(tmp_path, tmp_path / "no_weights") as url:
        c = Client(url, verbose=False, download_files=str(tmp_path / "downloads"))
        with pytest.raises(AppError, match="weights are not available") as info:
            c.predict(handle_file(str(PORTRAIT)), handle_file(str(SPEECH)), quality="fast", api_name="/animate")
    assert "warping_module.pth" in str(info.value) and "JOYVASA_WEIGHTS" in str(info.value)


def test_animate_stream_yields_segments_then_the_complete_mp4(client) -> None:
    endpoints = client.view_api(print_info=False, return_format="dict")["named_endpoints"]
    stream_names = [p["parameter_name"] for p in endpoints["/animate_stream"]["parameters"]]
    assert stream_names == [p["parameter_name"] for p in endpoints["/animate"]["parameters"]]
    job = client.submit(handle_file(str(PORTRAIT)), handle_file(str(SPEECH)), quality="fast", seed=4,
                        api_name="/animate_stream")
    updates = list(job)  # every yield, in order
    assert len(updates) >= 3, updates  # several segments before the end
    assert any("Streaming:" in str(update[2]) for update in updates[:-1])
    final = job.outputs()[-1]
    _, mp4, info = final
    kinds, duration, size = mp4_facts(mp4)
    assert kinds == {"video": "h264", "audio": "aac"} and size == (512, 512)
    assert abs(duration - _seconds(SPEECH)) < 0.1
    assert "first segment after" in info


def test_motion_controls_and_a_saved_motion_through_the_api(client, small_weights, tmp_path) -> None:
    from model.__main__ import main

    motion = tmp_path / "speech_motion.npz"
    assert main(["animate", "--image", str(PORTRAIT), "--audio", str(SPEECH), "--out", str(tmp_path / "cli.mp4"),
                 "--weights", str(small_weights), "--no-cache", "--device", "cpu", "--sampler", "ddim", "--steps",
                 "3", "--save-motion", str(motion)]) == 0
    video, info = client.predict(handle_file(str(PORTRAIT)), handle_file(str(SPEECH)), quality="fast",
                                 pose_scale=0.0, lip_scale=1.5, sync_offset_ms=80, blink_rate=20, eye_open=0.9,
                                 gaze_x=0.3, api_name="/animate")
    assert mp4_facts(video)[0] == {"video": "h264", "audio": "aac"} and "frames" in info
    video, _ = client.predict(handle_file(str(PORTRAIT)), handle_file(str(SPEECH)), quality="fast",
                                 motion_file=handle_file(str(motion)), api_name="/animate")
    assert abs(mp4_facts(video)[1] - _seconds(SPEECH)) < 0.1
    # The head pose from a driving video (the portrait drifting sideways for 0.4 s), looped.
    photo = np.asarray(Image.open(PORTRAIT).convert("RGB").resize((256, 256)))
    head = _write_video(tmp_path / "head.mp4", [np.roll(photo, 4 * i, axis=1) for i in range(12)],
                        [round(1000 * i / 30) for i in range(12)])
    video, info = client.predict(handle_file(str(PORTRAIT)), handle_file(str(SPEECH)), quality="fast",
                                 pose_from=handle_file(str(head)), pose_end="loop", api_name="/animate")
    assert abs(mp4_facts(video)[1] - _seconds(SPEECH)) < 0.1 and "head pose from head.mp4: 10 frames, then loop" in info


def test_compare_takes_a_motion_control_as_its_axis(client) -> None:
    video, summary = client.predict([handle_file(str(PORTRAIT))], [handle_file(str(SPEECH))], "4", "11", "human",
                                    "fast", "lip_scale", "0.5, 1.5", api_name="/compare")
    assert mp4_facts(video)[2] == (2 * 320, 320 + 32)
    assert "lip_scale 0.5" in summary and "lip_scale 1.5" in summary
    assert "reused from the cache for 1 of them" in summary  # a seed no other test uses: sampled once, reused once

"""Bring a site's own detector (e.g. a hard-hat model it trained) onto the box.

Two ways in, both ending with three files in the output folder: the int8 ``.tflite``, a
manifest (``.toml``: input range, decoder, labels file) and a model card (``.md``) with what
was measured here (input, output layout, quantisation, speed) and what must be filled in
(training data, licence, measured accuracy).

- ``--saved-model DIR`` (or ``--keras FILE``): full-integer quantisation with TensorFlow's
  converter, calibrated on ``--calibration`` images (a folder of JPEG/PNG from the site's
  cameras). Needs TensorFlow, at development time only: ``pip install tensorflow``.
- ``--tflite FILE``: an already converted model (e.g. YOLO exported with ``int8=True``);
  checked, described and copied.

Usage:
  python -m firmware_tools.export_model --tflite best_int8.tflite --labels labels.txt \\
      --decoder yolo --name helmet_site_a -o models/
"""

from __future__ import annotations

import argparse
import shutil
import sys
import time
from pathlib import Path
from typing import Any

DECODERS = ("yolo", "ssd_postprocessed", "ssd_raw")


def convert_int8(source: Path, keras: bool, calibration: Path, size: int, out: Path) -> None:
    """Full-integer quantisation (int8 weights and activations, uint8 input)."""
    try:
        import tensorflow as tf  # type: ignore[import-not-found]
    except ImportError:
        raise SystemExit(
            "error: converting needs TensorFlow (development machines only): pip install "
            "tensorflow; or export to int8 .tflite with your training tool and use --tflite"
        ) from None
    import cv2
    import numpy as np

    images = sorted(p for p in calibration.iterdir() if p.suffix.lower() in (".jpg", ".png"))
    if len(images) < 20:
        raise SystemExit(f"error: {calibration} has {len(images)} images; use >= 100 from site")

    def representative() -> Any:
        for p in images[:300]:
            bgr = cv2.imread(str(p))
            if bgr is None:
                continue
            img = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
            img = cv2.resize(img, (size, size)).astype(np.float32) / 255.0
            yield [img[None, ...]]

    if keras:
        conv = tf.lite.TFLiteConverter.from_keras_model(tf.keras.models.load_model(source))
    else:
        conv = tf.lite.TFLiteConverter.from_saved_model(str(source))
    conv.optimizations = [tf.lite.Optimize.DEFAULT]
    conv.representative_dataset = representative
    conv.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    conv.inference_input_type = tf.uint8
    out.write_bytes(conv.convert())


def describe(path: Path, threads: int = 1, runs: int = 20) -> dict[str, Any]:
    """Input, outputs, quantisation and speed of a .tflite file, measured here."""
    import numpy as np

    from vision.runner import _interpreter_class

    cls, backend = _interpreter_class()
    it = cls(model_path=str(path), num_threads=threads)
    it.allocate_tensors()
    inp = it.get_input_details()[0]
    outs = it.get_output_details()
    x = np.zeros(inp["shape"], inp["dtype"])
    it.set_tensor(inp["index"], x)
    it.invoke()
    t0 = time.perf_counter()
    for _ in range(runs):
        it.set_tensor(inp["index"], x)
        it.invoke()
    ms = (time.perf_counter() - t0) / runs * 1000
    return {
        "backend": backend,
        "input": {
            "name": inp["name"],
            "shape": [int(v) for v in inp["shape"]],
            "dtype": np.dtype(inp["dtype"]).name,
            "quantization": list(inp["quantization"]),
        },
        "outputs": [
            {
                "name": o["name"],
                "shape": [int(v) for v in o["shape"]],
                "dtype": np.dtype(o["dtype"]).name,
                "quantization": list(o["quantization"]),
            }
            for o in outs
        ],
        "int8": np.dtype(inp["dtype"]).name in ("int8", "uint8"),
        "invoke_ms": round(ms, 2),
        "threads": threads,
        "bytes": path.stat().st_size,
    }


def manifest(name: str, decoder: str, input_range: tuple[float, float]) -> str:
    lines = [
        f"# {name}: a site model (see {name}.md).",
        f'name = "{name}"',
        f'file = "{name}.tflite"',
        f'labels = "{name}.labels"',
        f'card = "{name}.md"',
        f"input_range = [{input_range[0]}, {input_range[1]}]",
        'color = "rgb"',
        "",
        "[decoder]",
        f'kind = "{decoder}"',
        "min_score = 0.4",
        "iou_threshold = 0.5",
    ]
    if decoder == "yolo":
        lines += ['layout = "yolov8"  # or "yolov5" (with objectness)', 'coords = "pixels"']
    return "\n".join(lines) + "\n"


def card(name: str, info: dict[str, Any], labels: list[str], decoder: str, source: str) -> str:
    inp = info["input"]
    shape, dtype, q = inp["shape"], inp["dtype"], inp["quantization"]
    speed = (
        f"{info['invoke_ms']} ms per inference on {info['threads']} thread(s), {info['backend']}"
    )
    outs = "; ".join(f"`{o['name']}` {o['shape']} {o['dtype']}" for o in info["outputs"])
    quant = "int8 (full integer)" if info["int8"] else f"not integer ({inp['dtype']} input)"
    return f"""# Model card: {name}

| | |
|---|---|
| Source | {source} |
| Licence | FILL IN (the training code's and the data's licence decide what may ship) |
| Training data | FILL IN (sites, cameras, number of images, labelling rules) |
| Input | `{inp["name"]}` {shape} {dtype}, RGB, plain resize; (scale, zero point) {q} |
| Output | {outs}; decoded as `{decoder}` with per-class NMS |
| Labels | {", ".join(labels)} |
| Quantisation | {quant} |
| Measured speed | {speed}, where the export ran (on the box: `safetybox cameras test`) |
| Accuracy | UNMEASURED until filled in: precision/recall on held-out footage from the site |
| Known limits | FILL IN (lighting, distance, camera angle, classes it confuses) |
"""


def run(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m firmware_tools.export_model")
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--tflite", type=Path, help="an int8 .tflite already exported")
    src.add_argument("--saved-model", type=Path, help="a TensorFlow SavedModel folder")
    src.add_argument("--keras", type=Path, help="a Keras model file")
    p.add_argument("--calibration", type=Path, help="images for int8 calibration")
    p.add_argument("--size", type=int, default=320, help="input size for calibration images")
    p.add_argument("--labels", type=Path, required=True, help="one label per line")
    p.add_argument("--decoder", choices=DECODERS, required=True)
    p.add_argument("--name", required=True, help="model name (file stem)")
    p.add_argument("--input-range", type=float, nargs=2, default=(0.0, 1.0))
    p.add_argument("-o", "--out", type=Path, default=Path("models"))
    p.add_argument("--force", action="store_true", help="overwrite existing files")
    args = p.parse_args(argv)
    out: Path = args.out
    out.mkdir(parents=True, exist_ok=True)
    target = out / f"{args.name}.tflite"
    files = [
        target,
        out / f"{args.name}.toml",
        out / f"{args.name}.md",
        out / f"{args.name}.labels",
    ]
    existing = [str(f) for f in files if f.exists()]
    if existing and not args.force:
        print(f"error: {', '.join(existing)} exist; add --force to overwrite", file=sys.stderr)
        return 1
    labels = [
        ln.strip() for ln in args.labels.read_text(encoding="utf-8").splitlines() if ln.strip()
    ]
    if not labels:
        print(f"error: {args.labels} has no labels", file=sys.stderr)
        return 1
    if args.tflite:
        shutil.copyfile(args.tflite, target)
        source = f"converted elsewhere: {args.tflite.name}"
    else:
        if args.calibration is None:
            print("error: --calibration IMAGES is needed for int8 conversion", file=sys.stderr)
            return 1
        model = args.saved_model or args.keras
        convert_int8(model, args.keras is not None, args.calibration, args.size, target)
        source = f"converted to int8 by firmware_tools.export_model from {model.name}"
    try:
        info = describe(target)
    except (ValueError, RuntimeError) as exc:
        target.unlink(missing_ok=True)
        print(f"error: {target} does not load in the TFLite interpreter: {exc}", file=sys.stderr)
        return 1
    (out / f"{args.name}.labels").write_text("\n".join(labels) + "\n", encoding="utf-8")
    (out / f"{args.name}.toml").write_text(
        manifest(args.name, args.decoder, tuple(args.input_range)), encoding="utf-8"
    )
    (out / f"{args.name}.md").write_text(
        card(args.name, info, labels, args.decoder, source), encoding="utf-8"
    )
    for f in files:
        print(f"wrote {f}")
    if not info["int8"]:
        print("warning: the model is not integer-quantised: expect it to be slower on the box")
    return 0


if __name__ == "__main__":
    sys.exit(run())

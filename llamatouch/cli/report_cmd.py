"""``llamatouch report RUN_DIR``: a static, self-contained HTML report of a run."""

from __future__ import annotations

import argparse

from llamatouch.cli import args as argtypes
from llamatouch.cli.common import add_hidden_alias


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("run_dir", type=argtypes.existing_dir,
                        help="an eval or score run folder (results.json / results.csv / traces)")
    parser.add_argument("--out", type=argtypes.output_file, default=None, metavar="FILE",
                        help="HTML file to write (default: RUN_DIR/report.html)")
    parser.add_argument("--images", choices=("embed", "files"), default="embed",
                        help="embed screenshots in the HTML (one file, default) or write them "
                        "to <out>_files/ beside it")
    parser.add_argument("--thumb-width", type=argtypes.int_range(64, 4096), default=270,
                        help="screenshot width in the report, pixels, 64..4096 (default: 270)")
    parser.add_argument("--steps-shown", type=argtypes.non_negative_int, default=0,
                        metavar="N", help="most steps shown per episode, 0: all (default: 0)")
    add_hidden_alias(parser, "--max-steps", dest="steps_shown",
                     type=argtypes.non_negative_int)


def run(ns: argparse.Namespace) -> int:
    from llamatouch.errors import InputFormatError
    from llamatouch.report.build import ReportConfig, build_report

    out = (ns.out or ns.run_dir / "report.html").resolve()
    if out.is_dir():
        raise InputFormatError(out, "is a folder, not a file (give --out FILE)")
    info = build_report(
        ns.run_dir,
        ReportConfig(out=out, embed_images=ns.images == "embed", thumb_width=ns.thumb_width,
                     max_steps=ns.steps_shown),
    )
    print(f"wrote {info['out']}: {info['episodes']} episodes, {info['images']} screenshots"
          + (f", {info['problems']} unreadable files listed" if info["problems"] else ""))
    return 0

"""``llamatouch report RUN_DIR``: a static, self-contained HTML report of a run."""

from __future__ import annotations

import argparse
from pathlib import Path


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("run_dir", type=Path,
                        help="an eval or score run folder (results.json / results.csv / traces)")
    parser.add_argument("--out", type=Path, default=None,
                        help="HTML file to write (default: RUN_DIR/report.html)")
    parser.add_argument("--images", choices=("embed", "files"), default="embed",
                        help="embed screenshots in the HTML (one file, default) or write them "
                        "to <out>_files/ beside it")
    parser.add_argument("--thumb-width", type=int, default=270,
                        help="screenshot width in the report, pixels (default 270)")
    parser.add_argument("--max-steps", type=int, default=0,
                        help="most steps shown per episode (0: all)")


def run(args: argparse.Namespace) -> int:
    from llamatouch.report.build import ReportConfig, build_report

    out = (args.out or args.run_dir / "report.html").resolve()
    info = build_report(
        args.run_dir,
        ReportConfig(out=out, embed_images=args.images == "embed",
                     thumb_width=max(64, args.thumb_width), max_steps=max(0, args.max_steps)),
    )
    print(f"wrote {info['out']}: {info['episodes']} episodes, {info['images']} screenshots"
          + (f", {info['problems']} unreadable files listed" if info["problems"] else ""))
    return 0

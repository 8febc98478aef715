"""Essential-state annotations: the schema and its store (a leaf: the evaluator reads it; the
proposer, self-test and importers that build annotations live in :mod:`llamatouch.annotating`
and :mod:`llamatouch.datasets`)."""

from llamatouch.essential.schema import (
    ANNOTATION_SCHEMA,
    Annotation,
    AnnotationSet,
    Checkpoint,
    Component,
    Locator,
    Primitive,
    load_annotation,
    load_annotations_dir,
    save_annotation,
)

__all__ = [
    "ANNOTATION_SCHEMA",
    "Annotation",
    "AnnotationSet",
    "Checkpoint",
    "Component",
    "Locator",
    "Primitive",
    "load_annotation",
    "load_annotations_dir",
    "save_annotation",
]

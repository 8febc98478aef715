"""Essential-state annotations: schema and store, LlamaTouch importer, automatic proposer."""

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

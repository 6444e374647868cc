"""Loads CloudFormation YAML (short-form intrinsics such as !Sub, !Ref) into plain data.

Shared by the policy checks in this folder; `!Ref X` becomes {"Ref": "X"}, `!GetAtt A.B`
{"Fn::GetAtt": ["A", "B"]}, every other `!Fn` tag {"Fn::Fn": value}.
"""

from __future__ import annotations

from pathlib import Path

import yaml


class CfnLoader(yaml.SafeLoader):
    """SafeLoader that understands the CloudFormation short-form tags."""


def _intrinsic(loader: CfnLoader, suffix: str, node: yaml.Node):
    if isinstance(node, yaml.ScalarNode):
        value = loader.construct_scalar(node)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)
    if suffix == "Ref":
        return {"Ref": value}
    if suffix == "GetAtt" and isinstance(value, str):
        return {"Fn::GetAtt": value.split(".", 1)}
    return {f"Fn::{suffix}": value}


CfnLoader.add_multi_constructor("!", _intrinsic)


def load(path: Path | str) -> dict:
    with open(path, encoding="utf-8") as handle:
        return yaml.load(handle, Loader=CfnLoader)  # noqa: S506 - SafeLoader subclass

"""Blend-shape names in wire order, in the three spellings the project meets.

The wire carries 51 blend shapes (DESIGN.md section 4): MediaPipe Face Landmarker categories
1..51 become wire indices 0..50. MediaPipe's category 0, ``_neutral``, is dropped, and ARKit's
52nd shape, ``tongueOut``, has no MediaPipe counterpart, so it never reaches the wire.

Spellings (same order in every tuple below):
- MediaPipe / ARKit Swift camelCase, e.g. ``eyeBlinkLeft`` (``kBlendshapeNames`` in
  mediapipe/tasks/cc/vision/face_landmarker/face_blendshapes_graph.cc): ARKit's names in
  alphabetical order.
- ARKit raw strings, e.g. ``eyeBlink_L`` (``ARFaceAnchor.BlendShapeLocation`` raw values,
  also the morph-target names of glTF heads such as three.js ``facecap.glb``).
- Live Link Face PascalCase, e.g. ``EyeBlinkLeft`` (the CSV header and UDP names).

``*Left``/``*Right`` are the subject's own side in all three. The tuples are hard-coded so the
package never reads shared/ at run time; tests/test_recordings.py checks them against
``shared/data/face/blendshape_name_map.json``.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Final

SHAPE_COUNT: Final = 51
"""Blend shapes on the wire (MediaPipe categories 1..51)."""

BLENDSHAPE_NAMES: Final[tuple[str, ...]] = (
    "browDownLeft", "browDownRight", "browInnerUp", "browOuterUpLeft", "browOuterUpRight",
    "cheekPuff", "cheekSquintLeft", "cheekSquintRight", "eyeBlinkLeft", "eyeBlinkRight",
    "eyeLookDownLeft", "eyeLookDownRight", "eyeLookInLeft", "eyeLookInRight", "eyeLookOutLeft",
    "eyeLookOutRight", "eyeLookUpLeft", "eyeLookUpRight", "eyeSquintLeft", "eyeSquintRight",
    "eyeWideLeft", "eyeWideRight", "jawForward", "jawLeft", "jawOpen", "jawRight", "mouthClose",
    "mouthDimpleLeft", "mouthDimpleRight", "mouthFrownLeft", "mouthFrownRight", "mouthFunnel",
    "mouthLeft", "mouthLowerDownLeft", "mouthLowerDownRight", "mouthPressLeft",
    "mouthPressRight", "mouthPucker", "mouthRight", "mouthRollLower", "mouthRollUpper",
    "mouthShrugLower", "mouthShrugUpper", "mouthSmileLeft", "mouthSmileRight",
    "mouthStretchLeft", "mouthStretchRight", "mouthUpperUpLeft", "mouthUpperUpRight",
    "noseSneerLeft", "noseSneerRight",
)  # fmt: skip
"""MediaPipe category names 1..51, index = wire index (0..50)."""

ARKIT_RAW_NAMES: Final[tuple[str, ...]] = (
    "browDown_L", "browDown_R", "browInnerUp", "browOuterUp_L", "browOuterUp_R", "cheekPuff",
    "cheekSquint_L", "cheekSquint_R", "eyeBlink_L", "eyeBlink_R", "eyeLookDown_L",
    "eyeLookDown_R", "eyeLookIn_L", "eyeLookIn_R", "eyeLookOut_L", "eyeLookOut_R",
    "eyeLookUp_L", "eyeLookUp_R", "eyeSquint_L", "eyeSquint_R", "eyeWide_L", "eyeWide_R",
    "jawForward", "jawLeft", "jawOpen", "jawRight", "mouthClose", "mouthDimple_L",
    "mouthDimple_R", "mouthFrown_L", "mouthFrown_R", "mouthFunnel", "mouthLeft",
    "mouthLowerDown_L", "mouthLowerDown_R", "mouthPress_L", "mouthPress_R", "mouthPucker",
    "mouthRight", "mouthRollLower", "mouthRollUpper", "mouthShrugLower", "mouthShrugUpper",
    "mouthSmile_L", "mouthSmile_R", "mouthStretch_L", "mouthStretch_R", "mouthUpperUp_L",
    "mouthUpperUp_R", "noseSneer_L", "noseSneer_R",
)  # fmt: skip
"""ARKit raw names (``eyeBlink_L``) in wire order."""

LIVELINK_NAMES: Final[tuple[str, ...]] = (
    "BrowDownLeft", "BrowDownRight", "BrowInnerUp", "BrowOuterUpLeft", "BrowOuterUpRight",
    "CheekPuff", "CheekSquintLeft", "CheekSquintRight", "EyeBlinkLeft", "EyeBlinkRight",
    "EyeLookDownLeft", "EyeLookDownRight", "EyeLookInLeft", "EyeLookInRight", "EyeLookOutLeft",
    "EyeLookOutRight", "EyeLookUpLeft", "EyeLookUpRight", "EyeSquintLeft", "EyeSquintRight",
    "EyeWideLeft", "EyeWideRight", "JawForward", "JawLeft", "JawOpen", "JawRight", "MouthClose",
    "MouthDimpleLeft", "MouthDimpleRight", "MouthFrownLeft", "MouthFrownRight", "MouthFunnel",
    "MouthLeft", "MouthLowerDownLeft", "MouthLowerDownRight", "MouthPressLeft",
    "MouthPressRight", "MouthPucker", "MouthRight", "MouthRollLower", "MouthRollUpper",
    "MouthShrugLower", "MouthShrugUpper", "MouthSmileLeft", "MouthSmileRight",
    "MouthStretchLeft", "MouthStretchRight", "MouthUpperUpLeft", "MouthUpperUpRight",
    "NoseSneerLeft", "NoseSneerRight",
)  # fmt: skip
"""Live Link Face PascalCase names in wire order."""

LIVELINK_UDP_NAMES: Final[tuple[str, ...]] = (
    "EyeBlinkLeft", "EyeLookDownLeft", "EyeLookInLeft", "EyeLookOutLeft", "EyeLookUpLeft",
    "EyeSquintLeft", "EyeWideLeft", "EyeBlinkRight", "EyeLookDownRight", "EyeLookInRight",
    "EyeLookOutRight", "EyeLookUpRight", "EyeSquintRight", "EyeWideRight", "JawForward",
    "JawLeft", "JawRight", "JawOpen", "MouthClose", "MouthFunnel", "MouthPucker", "MouthLeft",
    "MouthRight", "MouthSmileLeft", "MouthSmileRight", "MouthFrownLeft", "MouthFrownRight",
    "MouthDimpleLeft", "MouthDimpleRight", "MouthStretchLeft", "MouthStretchRight",
    "MouthRollLower", "MouthRollUpper", "MouthShrugLower", "MouthShrugUpper", "MouthPressLeft",
    "MouthPressRight", "MouthLowerDownLeft", "MouthLowerDownRight", "MouthUpperUpLeft",
    "MouthUpperUpRight", "BrowDownLeft", "BrowDownRight", "BrowInnerUp", "BrowOuterUpLeft",
    "BrowOuterUpRight", "CheekPuff", "CheekSquintLeft", "CheekSquintRight", "NoseSneerLeft",
    "NoseSneerRight", "TongueOut",
)  # fmt: skip
"""The 52 ARKit shapes in Live Link Face UDP order (JimWest/PyLiveLinkFace
``FaceBlendShape``); the packet's 9 pose values follow them (see ``avatars.recordings``).
Not the CSV export's order: there JawRight precedes JawLeft and MouthRight precedes
MouthLeft, which is why every loader maps columns by name."""

SHAPE_INDEX: Final[Mapping[str, int]] = MappingProxyType(
    {name: i for i, name in enumerate(BLENDSHAPE_NAMES)}
)
"""MediaPipe name -> wire index (0..50). Read-only."""

_ANY_INDEX: Final[Mapping[str, int]] = MappingProxyType(
    {
        name: i
        for names in (BLENDSHAPE_NAMES, ARKIT_RAW_NAMES, LIVELINK_NAMES)
        for i, name in enumerate(names)
    }
)


def wire_index(name: str) -> int | None:
    """Return the wire index (0..50) of a blend-shape name, or None if it has none.

    Accepts the MediaPipe (``eyeBlinkLeft``), ARKit raw (``eyeBlink_L``) and Live Link
    (``EyeBlinkLeft``) spellings, case-sensitively. ``_neutral``, ``tongueOut`` /
    ``TongueOut`` and unknown names give None.
    """
    return _ANY_INDEX.get(name)

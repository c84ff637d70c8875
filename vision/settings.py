"""The vision settings that the config needs, without numpy or OpenCV: the camera driver's
config is parsed by every CLI command and the daemon, which must not pay for the image stack
unless a camera actually runs."""

from __future__ import annotations

import os
import sys
from pathlib import Path

from pydantic import Field

from box.core.model import StrictModel

PERSON_MODEL = "person_ssd_mobilenetv2_oidv4"


def models_dir() -> Path:
    """Where the shipped models are: ``SAFETYBOX_MODELS`` if set, else the checkout's
    ``models/`` (development, editable installs), else ``<prefix>/share/safetybox/models``
    (``pip install .``, see setup.cfg's data_files)."""
    env = os.environ.get("SAFETYBOX_MODELS")
    if env:
        return Path(env)
    candidates = [
        Path(__file__).resolve().parent.parent / "models",
        Path(sys.prefix) / "share" / "safetybox" / "models",
    ]
    for folder in candidates:
        if (folder / f"{PERSON_MODEL}.toml").is_file():
            return folder
    return candidates[0]


MODELS_DIR = models_dir()


class MotionConfig(StrictModel):
    enabled: bool = True
    width: int = Field(default=160, ge=32, le=640, description="width of the compared image")
    threshold: int = Field(default=20, ge=1, le=255, description="grey change counted as motion")
    min_area: float = Field(default=0.002, ge=0, le=1, description="fraction of the frame")
    alpha: float = Field(default=0.05, gt=0, le=1, description="background adaptation rate")
    recheck_s: float = Field(default=10.0, ge=0, description="full detection at least this often")
    crop: bool = Field(default=True, description="detect on the moving region when it is small")
    crop_max_area: float = Field(default=0.3, gt=0, le=1)


class HelmetBaselineConfig(StrictModel):
    head_fraction: float = Field(default=0.18, gt=0, le=0.5, description="top of the person box")
    min_cover: float = Field(default=0.25, gt=0, le=1, description="hat-coloured share needed")


class SmokeFireBaselineConfig(StrictModel):
    smoke: bool = Field(
        default=False, description="also the grey-growing-region smoke check (more false alarms)"
    )
    min_area: float = Field(default=0.002, gt=0, le=1, description="fraction of the frame")
    flicker: float = Field(default=0.1, gt=0, le=1, description="mask change between frames")
    window: int = Field(default=8, ge=3, le=60, description="frames of history")
    smoke_growth: float = Field(default=1.3, ge=1, le=10, description="area ratio over window")
    max_drift: float = Field(
        default=0.01, ge=0, le=1, description="mean centroid shift per frame (of the width)"
    )


ZH = {
    # camera driver
    "url": "视频源地址",
    "open_timeout_s": "打开超时(秒)",
    "no_frames_fault_s": "无画面故障(秒)",
    "model": "模型",
    "backend": "推理后端",
    "threads": "推理线程数",
    "fps_budget": "分析帧率(帧/秒)",
    "report_every_s": "上报周期(秒)",
    "zones": "区域",
    "motion": "运动检测",
    "intrusion": "入侵检测",
    "helmet": "安全帽检测",
    "smoke_fire": "烟火检测",
    "snapshot_width": "快照宽度(像素)",
    "snapshot_quality": "快照质量",
    # detectors
    "enabled": "启用",
    "persistence": "持续判定",
    "schedule": "布防时间",
    "labels": "目标类别",
    "baseline": "经典基线参数",
    "person": "人员筛选",
    "min_score": "最低置信度",
    "min_area": "最小面积(占画面比例)",
    "k": "命中帧数 K",
    "n": "窗口帧数 N",
    "clear_after": "消除所需帧数",
    "days": "星期",
    "hours": "时段",
    # motion gating
    "width": "宽度(像素)",
    "threshold": "阈值",
    "alpha": "背景更新率",
    "recheck_s": "强制复检(秒)",
    "crop": "裁剪运动区域",
    "crop_max_area": "裁剪最大面积",
    # baselines
    "head_fraction": "头部区域比例",
    "min_cover": "安全帽覆盖比例",
    "smoke": "烟雾检测",
    "flicker": "闪烁阈值",
    "window": "历史帧数",
    "smoke_growth": "烟雾增长比",
    "max_drift": "最大漂移",
    # fusion
    "id": "编号",
    "name": "名称",
    "all": "全部条件",
    "any": "任一条件",
    "level": "报警级别",
    "latching": "自锁",
}


def name_in_chinese(*models: type[StrictModel]) -> None:
    """Give each field of these models its Chinese name (``x-zh``) for the zh-CN config forms,
    as plug-ins do, so no file of the box needs touching. Base classes first."""
    for model in models:
        for key, info in model.model_fields.items():
            zh = ZH.get(key)
            if zh is not None and isinstance(info.json_schema_extra, dict | None):
                info.json_schema_extra = {**(info.json_schema_extra or {}), "x-zh": zh}
        model.model_rebuild(force=True)


name_in_chinese(MotionConfig, HelmetBaselineConfig, SmokeFireBaselineConfig)

"""Chinese names of the positioning settings, for the config forms (``x-zh`` in the schema)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

ZH: dict[str, str] = {
    "accuracy_m": "定位精度(米)",
    "alarm_s": "报警时间(秒)",
    "approach_m": "接近距离(米)",
    "attendant_roles": "监护人角色",
    "attendant_zone": "监护区域",
    "authorised_only": "仅限授权",
    "authorised_roles": "授权角色",
    "badge": "工牌号",
    "battery": "电量字段",
    "battery_empty_v": "空电电压",
    "battery_full_v": "满电电压",
    "battery_low_pct": "低电量阈值(%)",
    "cameras": "摄像机",
    "channels": "监测点",
    "enabled": "启用",
    "fields": "字段映射",
    "gas": "气体",
    "id_prefix": "标签编号前缀",
    "key_post_s": "关键岗位离岗时间(秒)",
    "latching": "自锁",
    "level": "级别",
    "lost_after_s": "失联判定(秒)",
    "man_down": "倒地/静止报警",
    "margin_m": "围栏回差(米)",
    "plan_size_m": "厂区图尺寸(米)",
    "max_people": "人数上限",
    "max_stay_s": "最长停留(秒)",
    "max_unknown_tags": "未登记标签上限",
    "min_dwell_s": "最短驻留(秒)",
    "min_quality": "最低定位质量",
    "mode": "模式",
    "muster": "紧急集合",
    "name": "名称",
    "offset": "原点偏移",
    "outputs": "联动输出",
    "people": "人员",
    "poll_interval_s": "轮询间隔(秒)",
    "polygon": "多边形顶点",
    "port": "端口",
    "post_roles": "岗位角色",
    "pre_alarm_s": "预报警时间(秒)",
    "present_within_s": "在场判定(秒)",
    "quality": "质量字段",
    "radius_m": "静止半径(米)",
    "reenter_after_s": "重新进入命令行(秒)",
    "role": "角色",
    "rotation_deg": "旋转角(度)",
    "scale": "比例",
    "sos": "SOS字段",
    "start_on_level1": "一级报警时启动集合",
    "stel": "短时间接触限值",
    "stel_window_s": "短时间接触窗口(秒)",
    "stream": "输出格式",
    "system": "定位系统",
    "tag": "标签",
    "tag_from_topic": "主题中的标签层级",
    "tag_prefix": "标签前缀",
    "team": "班组",
    "tlv_command": "TLV命令",
    "topic": "主题",
    "track_window_s": "全速轨迹保留(秒)",
    "transform": "坐标变换",
    "transport": "传输方式",
    "ts": "时间戳字段",
    "twa": "时间加权平均限值",
    "twa_window_s": "时间加权平均窗口(秒)",
    "type": "类型",
    "unknown_tags": "跟踪未登记标签",
    "x": "X字段",
    "y": "Y字段",
    "z": "Z字段",
    "zones": "区域",
    "exposure": "个人接触",
}


def zh_names(schema: dict[str, Any], cls: type) -> None:
    """``json_schema_extra`` of a model: every property gets its Chinese name."""
    for key, prop in schema.get("properties", {}).items():
        if key in ZH:
            prop["x-zh"] = ZH[key]


ZhHook = Callable[[dict[str, Any], type], None]

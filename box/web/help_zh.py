"""Chinese for the config forms: the schema's help texts and choice values, keyed by their
English. A text not found here (a plug-in's own) stays English; the zh-CN completeness test
renders every built-in form and fails on one that is missing."""

from __future__ import annotations

HELP: dict[str, str] = {
    "one  key = value  per line (TOML)": "每行一个 键 = 值（TOML 格式）",
    "values separated by commas": "多个值用逗号分隔",
    "default mute duration": "默认消音时长",
    "this many raised alarms ...": "报警数达到此数量……",
    "... in this window": "……在此时间窗口内",
    "alarm (level 1) beyond the range": "超出量程时报警（一级）",
    "1 most urgent ... 4 notice": "1 最紧急……4 提示",
    "full scale [min, max]": "满量程 [最小值, 最大值]",
    "a safety channel: stale_after_s at most 100 s (GB 50166); every channel, safety or not, "
    "faults when offline or its quality is bad": (
        "安全监测点：无数据判定时间不超过 100 秒（GB 50166）；任何监测点离线或信号异常时都报故障"
    ),
    "digits shown after the point": "显示的小数位数",
    "value is a 4-20 mA loop: NAMUR NE43 faults": "数值来自 4-20 mA 回路：按 NAMUR NE43 判断故障",
    "what leaves the box: every reading, min/max/mean/last per interval, alarms and events only, "
    "or nothing (process secrets stay on site)": (
        "上传哪些数据：全部读数、每个周期的最小/最大/平均/最新值、仅报警和事件，或不上传（工艺数据留在现场）"
    ),
    "platform identifiers, e.g. monitoring_point_code, hazard_code, cas": (
        "平台标识，例如监测点编码、危险源编码、CAS 号"
    ),
    "profile point -> channel id": "设备模板的测点 -> 监测点编号",
    "point -> engineering range of its 4-20 mA loop": "测点 -> 其 4-20 mA 回路的工程量程",
    "The device goes silent for ``for_s`` seconds every ``every_s`` seconds.": (
        "设备每隔 every_s 秒静默 for_s 秒。"
    ),
    "silent: no readings at all (the box faults after stale_after_s); bad_quality: readings "
    "without a value, as a bus driver reports a unit that does not answer (the box faults at "
    "once)": (
        "静默：完全没有读数（超过无数据判定时间后报故障）；信号异常：有读数但无数值，"
        "如总线设备不应答（立即报故障）"
    ),
    "Rolling time-weighted averages for toxic gases (missing time counts as zero exposure).": (
        "有毒气体的滚动时间加权平均（缺失的时间按零暴露计算）。"
    ),
    "15-min average limit": "15 分钟平均限值（STEL）",
    "8-h average limit": "8 小时平均限值（TWA）",
    "A ring of shared-memory slots for frames the parent hands to the worker.": (
        "主进程交给工作进程的图像帧所用的共享内存环形缓冲区。"
    ),
    "frames in flight before overwrite": "覆盖前可缓存的帧数",
    "values per pixel (3 = RGB)": "每像素的数值个数（3 = RGB）",
    "silence and acknowledge all": "消音并全部确认",
    "reset cleared latched alarms": "复位已恢复的锁存报警",
    "serial device, e.g. /dev/ttyUSB0": "串口设备，例如 /dev/ttyUSB0",
    "Modbus TCP device or gateway": "Modbus TCP 设备或网关",
    "Fields every plug-in output has; a kind subclasses this with ``type: Literal[KIND]``\n"
    "(see box/alarms/output_kinds.py).": "所有插件输出共有的字段。",
    "outputs of plug-in kinds, each with its type": "插件类型的输出，每个注明其类型",
    "package.module:function to run": "要运行的函数（包.模块:函数）",
    "handed to the worker": "传给工作进程的参数",
    "worker channel name -> box channel id": "工作进程通道名 -> 本机监测点编号",
    "silence after which the worker is killed": "工作进程无响应超过此时间即被终止",
    "time to import the worker (models load slowly)": "工作进程的启动时间（模型加载较慢）",
    "RLIMIT_AS of the child (address space)": "子进程的地址空间上限",
    "the parent kills a child whose resident memory exceeds": "子进程常驻内存超过此值时被终止",
    "first restart delay": "首次重启延时",
    "restart delay cap": "重启延时上限",
    "time to exit after a stop request, then SIGTERM": "收到停止请求后的退出时限，超时则强制终止",
    "Setpoints active by date range (MM-DD, inclusive, may wrap the year) and/or time of day.": (
        "按日期范围（月-日，含首尾，可跨年）和/或每天时段生效的报警值。"
    ),
    'channel -> {level name -> at}, e.g. "tank1.lel" = { A1 = 20, A2 = 40 }': (
        "监测点 -> {级别名 -> 报警值}"
    ),
    "Rises from ``start`` at ``slope_per_s``; restarts every ``period_s`` if given.": (
        "从 start 开始按每秒 slope_per_s 上升；如设置了 period_s 则按周期重新开始。"
    ),
    "alarm when the value rises this much ...": "数值上升超过此幅度时报警……",
    "... within this many seconds": "……在此秒数内",
    "normally energised; de-energised on alarm and when the daemon dies": (
        "常带电；报警时及本机程序停止时失电（故障安全）"
    ),
    "upstream may switch it by command": "允许上级平台远程控制",
    "driven by alarms of this level or worse": "由此级别及更高级别的报警驱动",
    "only these (all if empty)": "仅限这些（留空则全部）",
    "seconds between reads": "读取间隔（秒）",
    "fault injection: raise after this many seconds": "故障注入：在此秒数后出错",
    "gaussian noise added (stddev)": "叠加的高斯噪声（标准差）",
    "``before`` until ``at_s``, then ``after`` until ``back_at_s`` (if given); repeats every\n"
    "``period_s`` if given. The demo's scripted gas leak is one of these.": (
        "在 at_s 秒之前取前值，之后取后值，直到 back_at_s 秒（如设置）；如设置 period_s 则循环。"
        "演示中的气体泄漏就是这种波形。"
    ),
    "readings kept this long": "读数保留时长",
    "trend data": "趋势数据",
    "readings evicted beyond this": "超过此容量时删除最早的读数",
    "normal: survives a crash, may lose the last commits on power loss; full: fsync every commit "
    "(slower, wears the SD card)": (
        "普通：程序崩溃不丢数据，断电可能丢失最后几次提交；"
        "完全：每次提交都写入磁盘（较慢，磨损 SD 卡）"
    ),
    "'above X for D' (or below): e.g. motor temperature above 80 °C for 3 hours.": (
        "“高于 X 持续 D”（或低于）：例如电机温度高于 80 °C 持续 3 小时。"
    ),
    "readings wait at most": "读数最长等待时间",
    "upload cap": "上传带宽上限",
    "platform identifiers of the box, e.g. enterprise_code": "本机的平台标识，例如企业编码",
    "accept sealed commands from upstream": "接受上级平台的加密签名指令",
    'thresholds upstream may change: "tank1.lel" = { A1 = [10, 25] }': (
        "上级平台可修改的报警值及其允许范围"
    ),
    "CA certificate(s) that signed the broker's certificate": "签发 MQTT 服务器证书的 CA 证书",
    "client certificate (mutual TLS)": "客户端证书（双向 TLS）",
    "e.g. A1, A2": "例如 A1、A2",
    "this level's direction (default: the thresholds' direction); O2: LO falling and HI rising "
    "on one channel": "此级别的方向（默认同报警值方向）；氧气：低限为下降、高限为上升",
    "Up to four levels on one channel, each rising (gas, temperature, pressure) or falling\n"
    "(O2 deficiency); O2 mixes falling LO/LOLO and rising HI/HIHI levels.": (
        "每个监测点最多四级报警，各为上升（气体、温度、压力）或下降（缺氧）；"
        "氧气同时有下降的低限和上升的高限。"
    ),
    "the levels' default direction": "各级别的默认方向",
    "absolute hysteresis": "回差（绝对值）",
    "% of full scale": "满量程的百分比",
    "k-out-of-n: alarm when at least k of the channels have threshold level ``threshold``.": (
        "多选一表决：至少 k 个监测点达到指定报警级别时报警。"
    ),
    "level name counted on each channel, e.g. A1": "各监测点计入的报警级别名，例如 A1",
    "serve HTTPS (certificate from init, or cert_file/key_file)": (
        "启用 HTTPS（使用初始化生成的证书，或指定证书文件）"
    ),
    "PEM certificate; empty: keys/web.crt": "PEM 证书；留空则用 keys/web.crt",
    "PEM private key; empty: keys/web-tls.key": "PEM 私钥；留空则用 keys/web-tls.key",
    "log out after this long without a request": "无操作超过此时长后自动退出登录",
}
# Positioning (UWB drivers, people, zones), from the people capability.
HELP.update(
    {
        "positioning system name (the Position's source)": "定位系统名称（位置数据的来源）",
        "1-sigma horizontal error of this system": "本系统的水平误差（1 倍标准差）",
        "fixes with a lower quality factor are marked bad": "质量因子低于此值的定位标记为异常",
        "prepended to tag ids": "加在标签编号前的前缀",
        "serial device, e.g. /dev/ttyACM0": "串口设备，例如 /dev/ttyACM0",
        "shell output format": "命令行输出格式",
        "the tag id this module's positions belong to": "本模块的位置所属的标签编号",
        "TLV polling": "TLV 轮询",
        "path of the tag id ('' = from the topic)": "标签编号在消息中的路径（留空则取自主题）",
        "'' when the source has no height": "数据源无高度时留空",
        "'' when not reported": "未上报时留空",
        "path of the battery level in percent": "电量百分比在消息中的路径",
        "path of the SOS button flag": "SOS 按钮标志在消息中的路径",
        "path of a UNIX timestamp (s)": "UNIX 时间戳（秒）在消息中的路径",
        "topic level holding the tag id (dwm/node/+/...: 2)": "主题中标签编号所在的层级（从 0 起）",
        "units per metre divisor: mm = 1000": "每米的单位数（毫米为 1000）",
        "Per-worker STEL/TWA of one gas, from the zone channels he stands among.": (
            "按人员所在区域的监测点计算某种气体的 STEL/TWA 暴露量。"
        ),
        "channels measuring this gas": "测量此气体的监测点",
        "MQTT subscription": "MQTT 订阅主题",
        "tag id = prefix + node id": "标签编号 = 前缀 + 节点编号",
        "No movement beyond ``radius_m``: a pre-alarm after ``pre_alarm_s``, then a latched\n"
        "level-1 alarm after ``alarm_s`` unless the wearer moves (30 s to 5 min, like the\n"
        "instruments that do this).": (
            "在 radius_m 范围外无移动：pre_alarm_s 后预警，若佩戴者仍不动，alarm_s 后发出锁存的"
            "一级报警（30 秒至 5 分钟，与同类仪器一致）。"
        ),
        "only in these (all if empty)": "仅在这些区域（留空则全部）",
        "a level-1 alarm anywhere on the box starts a muster": "本机任何一级报警都启动紧急集合",
        "who is on the roll: seen this recently": "点名范围：在此时间内出现过的人员",
        "authorised zones": "允许进入的区域",
        "a fence is left only this far outside it": "越出围栏此距离才算离开",
        "a zone change counts after holding this long": "在新区域停留此时长后才算进入",
        "lost tag fault after": "标签失联超过此时长报故障",
        "track tags not in people (as unauthorised strangers)": (
            "跟踪未登记人员的标签（视为外来人员）"
        ),
        "full-rate positions kept in memory this long": "全速率位置数据在内存中保留的时长",
        "Where this system's origin and axes lie on the site plan.": (
            "本定位系统的原点和坐标轴在厂区图上的位置。"
        ),
        "site coordinates (m) of the system's origin": "系统原点的厂区坐标（米）",
        "counter-clockwise angle of the system's x axis": "系统 x 轴的逆时针角度",
        "site metres per system unit": "每个系统单位对应的厂区米数",
        "corners [x, y] in site metres": "各角点 [x, y]（厂区米）",
        "level of this zone's alarms (default by type)": "本区域报警的级别（默认按类型）",
        "default: true for restricted, danger and confined_space": (
            "限制区、危险区和受限空间默认为是"
        ),
        "roles let in": "允许进入的岗位",
        "danger: warn this close": "危险区：接近到此距离即提醒",
        "overstay after": "停留超过此时长报警",
        "headcount limit": "人数上限",
        "confined space: where its attendant must be": "受限空间：监护人必须所在的位置",
        "key post: alarm when unattended this long": "关键岗位：无人值守超过此时长报警",
        "who attends (all if empty)": "值守人员（留空则全部）",
        "gas channels in this zone": "本区域内的气体监测点",
        "relays driven by this zone's alarms": "由本区域报警驱动的继电器",
        "site plans: zones, people and their tags (UWB positioning rules)": (
            "厂区图：区域、人员及其标签（UWB 定位规则）"
        ),
    }
)

# Cameras, Modbus templates, sync batching and other sections merged on main meanwhile.
HELP.update(
    {
        "rtsp://, http(s):// MJPEG, /dev/videoN, or a file": (
            "rtsp://、http(s):// MJPEG、/dev/videoN 或文件"
        ),
        "frames are resized to this": "图像帧缩放到此尺寸",
        "then a fault": "超过则报故障",
        "worker hang": "工作进程无响应",
        "model load time": "模型加载时间",
        "seconds between polls; below 0.1 s on RS-485 only when the line has room": (
            "轮询间隔（秒）；RS-485 线路只有在带宽允许时才可低于 0.1 秒"
        ),
        "the [[drivers]] name whose bus the devices are on": "设备所在总线的驱动名称",
        'unit ids: 7, "1-32", "1-8, 12" or a list of those': "从站地址：单个、范围或其列表",
        "keys of every device, e.g. profile = ..., interval_s = ...": "每个设备共有的设置",
        'profile point -> channel table; id/name/zone may be patterns: "t{unit}.lel"': (
            "设备模板测点 -> 监测点；编号、名称、区域可用含 {unit} 的模式"
        ),
        'unit ids ("7", "7-9") -> overrides': "从站地址 -> 覆盖设置",
        "alarm ids that must all stand": "必须同时存在的报警",
        "and at least one of these": "并且至少有其中之一",
        "top of the person box": "人体框的顶部比例",
        "hat-coloured share needed": "所需的安全帽颜色占比",
        "empty: the whole frame": "留空则为整个画面",
        "armed only then (local time)": "仅在此时段启用（当地时间）",
        '"baseline" or a model manifest with helmet/no_helmet': (
            "基线算法，或含安全帽类别的模型清单"
        ),
        "Overrides for some units of a template (merged key by key over the template).": (
            "对模板中部分设备的覆盖设置（逐项合并到模板上）。"
        ),
        "device keys for these units": "这些设备的设备设置",
        "point -> channel keys for these units": "这些设备的测点 -> 监测点设置",
        "what counts, filtered": "计入的目标（经过筛选）",
        "box area, fraction of frame": "目标框面积占画面的比例",
        "width of the compared image": "比较图像的宽度",
        "grey change counted as motion": "计为运动的灰度变化",
        "fraction of the frame": "占画面的比例",
        "background adaptation rate": "背景更新速率",
        "full detection at least this often": "至少每隔此时间做一次完整检测",
        "detect on the moving region when it is small": "运动区域较小时只在该区域检测",
        "frames with the violation ...": "出现违规的帧数……",
        "... among the last n analysed": "……在最近分析的 n 帧中",
        "frames without, to clear": "连续无违规多少帧后解除",
        "What of one record type goes upstream (positions are personal data: a site may send\n"
        "them thinned out, or keep them on the box).": (
            "某类记录上传哪些内容（位置属于个人数据：可抽稀上传，或只留在本机）。"
        ),
        "all stored rows, one per key every every_s, or none": "全部、按间隔抽稀，或不上传",
        "for downsampled": "用于抽稀上传",
        "mon..sun": "星期一至星期日",
        '["HH:MM", "HH:MM"] start inclusive, end exclusive; wraps': (
            "[开始, 结束]（时:分），含开始不含结束，可跨零点"
        ),
        "also the grey-growing-region smoke check (more false alarms)": (
            "同时启用灰色扩散区域的烟雾检测（误报较多）"
        ),
        "mask change between frames": "帧间掩膜变化",
        "frames of history": "历史帧数",
        "area ratio over window": "窗口内的面积比",
        "mean centroid shift per frame (of the width)": "每帧质心平均位移（占宽度比例）",
        '"baseline" or a model with fire/smoke': "基线算法，或含烟火类别的模型",
        "stored positions (trajectories) kept this long": "存储的位置（轨迹）保留时长",
        "a position is stored when the tag moved this far": "标签移动超过此距离时存储位置",
        "... or this long after the last stored one": "……或距上次存储超过此时长",
        "broker password; better: password_file (kept out of box.toml)": (
            "MQTT 服务器密码；更好的做法是使用密码文件（不写入配置文件）"
        ),
        "file holding the broker password (relative to box.toml's folder), so the password is "
        "not in box.toml, its history or the config API": (
            "存放 MQTT 服务器密码的文件（相对于配置文件所在目录），"
            "密码不会出现在配置文件、历史配置或配置接口中"
        ),
        "a partial batch waits at most this long for more rows; 0: it goes as soon as the link "
        "is idle (batches grow by themselves while one awaits its PUBACK)": (
            "未满的批次最多等待此时长；0 表示链路空闲即发送（等待确认期间批次会自然变大）"
        ),
        "first retry delay (the very first is at once)": "首次重试延时（第一次立即重试）",
        "retry delays double up to this (with jitter)": "重试延时倍增至此上限（带随机抖动）",
        "a clean stop sends what is pending this long at most": (
            "正常停止时最多用此时长发送待发数据"
        ),
        'per record type, e.g. position = { upstream = "downsampled", every_s = 60 }': (
            "按记录类型分别设置"
        ),
        "an alarm when several alarms stand at once (person in zone + gas alarm)": (
            "多个报警同时存在时的组合报警（如人员在区域内且有气体报警）"
        ),
    }
)


CHOICES: dict[str, str] = {
    "true": "是",
    "false": "否",
    "aggregate": "汇总值",
    "events_only": "仅报警和事件",
    "raw": "全部读数",
    "none": "不上传",
    "rising": "上升",
    "falling": "下降",
    "normal": "普通",
    "full": "完全",
    "silent": "静默",
    "bad_quality": "信号异常",
    "gas_lel": "可燃气体（%LEL）",
    "gas_ppm": "有毒气体（ppm）",
    "gas_vol": "气体（%VOL）",
    "o2": "氧气",
    "temperature": "温度",
    "humidity": "湿度",
    "pressure": "压力",
    "flow": "流量",
    "level": "液位",
    "position": "位置",
    "process": "工艺量",
    "other": "其他",
    "constant": "恒定",
    "noise": "噪声",
    "ramp": "斜坡",
    "sine": "正弦",
    "step": "阶跃",
    "sim": "模拟",
    "mock": "模拟（无硬件）",
    "auto": "自动",
    "native": "内置",
    "shell": "命令行",
    "tlv": "TLV 二进制",
    "mqtt": "MQTT",
    "tcp": "TCP",
    "E": "偶校验",
    "N": "无校验",
    "O": "奇校验",
}


_ADDED = ("one  key = value  per line (TOML)", "values separated by commas")


def help_zh(text: str) -> str:
    """A field's help in Chinese (the form may have added a hint after "; ")."""
    if text in HELP:
        return HELP[text]
    for added in _ADDED:
        if text.endswith("; " + added):
            return help_zh(text[: -len(added) - 2]) + "；" + HELP[added]
    return text

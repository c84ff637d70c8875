"""The page's two languages (zh-CN, en), chosen by ?lang=, then a cookie, then the browser."""

from __future__ import annotations

import re

from flask import request

LANGS = ("en", "zh-CN")
TEXT: dict[str, tuple[str, str]] = {
    "title": ("SafetyBox", "安全盒"),
    "login": ("Log in", "登录"),
    "logout": ("Log out", "退出"),
    "user": ("User", "用户"),
    "password": ("Password", "密码"),
    "new_password": ("New password", "新密码"),
    "old_password": ("Current password", "当前密码"),
    "change_password": ("Change password", "修改密码"),
    "must_change": ("Choose your own password before you continue.", "请先设置您自己的密码。"),
    "channels": ("Channels", "监测点"),
    "alarms": ("Alarms", "报警"),
    "no_alarms": ("No alarms", "无报警"),
    "ack": ("Acknowledge", "确认"),
    "outputs": ("Outputs", "输出"),
    "quality": ("signal", "信号"),
    "q.good": ("good", "正常"),
    "q.uncertain": ("uncertain", "可疑"),
    "q.bad": ("bad", "故障"),
    "q.stale": ("stale (no data)", "无数据"),
    "first_out": ("first out", "首警"),
    "state.active_unack": ("active, not acknowledged", "报警未确认"),
    "state.active_ack": ("active, acknowledged", "报警已确认"),
    "state.cleared_unack": ("cleared, not acknowledged", "已恢复未确认"),
    "state.latched": ("latched: reset needed", "已锁存，需复位"),
    "state.normal": ("normal", "正常"),
    "healthy": ("working", "工作正常"),
    "unhealthy": ("NOT healthy", "运行异常"),
    "wrong_login": ("Wrong user name or password.", "用户名或密码错误。"),
    "language": ("中文", "English"),
    "silence": ("Silence buzzer", "消音"),
    "reset": ("Reset", "复位"),
    "shelve": ("Shelve", "屏蔽"),
    "unshelve": ("Unshelve", "解除屏蔽"),
    "shelved": ("shelved", "已屏蔽"),
    "reason": ("reason (required)", "原因（必填）"),
    "dashboard": ("Dashboard", "总览"),
    "system": ("System", "系统"),
    "version": ("Version", "版本"),
    "uptime": ("Uptime", "运行时间"),
    "store": ("Store", "存储"),
    "clock": ("Clock", "时钟"),
    "cpu_temp": ("CPU temperature", "CPU 温度"),
    "outbox": ("Upstream backlog", "待上传"),
    "checks": ("Checks", "检查"),
    "drivers": ("Drivers", "驱动"),
    "config": ("Configuration", "配置"),
    "upstream": ("Upstream", "上传"),
    "sync_off": ("off", "未启用"),
    "connected": ("connected", "已连接"),
    "not_connected": ("not connected (data waits in the box)", "未连接（数据暂存本机）"),
    "users": ("Users", "用户管理"),
    "add_user": ("Add user", "添加用户"),
    "reset_password": ("New temporary password", "重置密码"),
    "must_change_short": ("must change password", "需修改密码"),
    "diagnostics": ("Download diagnostics", "下载诊断包"),
    "backup": ("Download encrypted backup", "下载加密备份"),
    "history_title": ("Alarm history", "报警记录"),
    "filter": ("Filter", "筛选"),
    "all": ("all", "全部"),
    "hours_back": ("hours back", "小时内"),
    "site": ("Site overview", "厂区总览"),
    "no_plan": (
        "No site plan yet: an admin can upload one (PNG or JPEG).",
        "尚无厂区图：管理员可上传（PNG 或 JPEG）。",
    ),
    "upload_plan": ("Upload site plan", "上传厂区图"),
    "range.hour": ("last hour", "近一小时"),
    "range.day": ("last day", "近一天"),
    "range.week": ("last week", "近一周"),
    "line": ("line", "行"),
    "check": ("Check", "检查"),
    "diff": ("Changes", "变更"),
    "apply": ("Apply", "应用"),
    "history": ("Earlier configs", "历史配置"),
    "restore": ("Restore", "恢复"),
    "change_role": ("Change role", "修改角色"),
    "remove_user": ("Remove", "删除用户"),
    "sections": ("Settings by section", "分项设置"),
    "editor": ("The whole file (box.toml)", "完整配置文件 (box.toml)"),
    "add_row": ("add", "新增"),
    "remove": ("remove", "删除"),
    # the push channel, the banner and the box's own health (separate from the site's alarms)
    "live.ok": ("live", "实时"),
    "live.stale": ("OUT OF DATE: reconnecting; last update", "数据未更新：正在重连；最后更新"),
    "live.logged_out": (
        "Logged out: log in again to see live data",
        "已退出登录：请重新登录以查看实时数据",
    ),
    "banner.none": ("Site: no active alarms", "现场：无报警"),
    "banner.active": (
        "Site: {n} active alarm(s), {u} not acknowledged",
        "现场：{n} 个报警，{u} 个未确认",
    ),
    "banner.shelved": ("{n} shelved", "{n} 个已屏蔽"),
    "banner.faults": ("◆ {n} of them fault(s)", "◆ 其中 {n} 个故障"),
    "banner.ack_all": ("Acknowledge all", "全部确认"),
    "banner.show": ("Show alarms", "查看报警"),
    "sound": ("Sound", "声音"),
    "notifications": ("Notifications", "通知"),
    "box.ok": ("This box: working", "本机设备：工作正常"),
    "box.problems": ("This box: {n} problem(s)", "本机设备：{n} 个故障"),
    "box_health": ("Box health", "本机设备状态"),
    "site_state": ("Site state", "现场状态"),
    "silenced_until": ("silenced until", "已消音至"),
    "shelve_for": ("Shelve for", "屏蔽时长"),
    "level.1": ("Level 1 · red", "一级 · 红色"),
    "level.2": ("Level 2 · orange", "二级 · 橙色"),
    "level.3": ("Level 3 · yellow", "三级 · 黄色"),
    "level.4": ("Level 4 · blue", "四级 · 蓝色"),
    "response.1": ("respond immediately", "立即处置"),
    "response.2": ("respond within 30 min", "30 分钟内处置"),
    "response.3": ("respond within 2 h", "2 小时内处置"),
    "response.4": ("for information", "提示"),
    "cat.alarm": ("ALARM", "报警"),
    "cat.fault": ("FAULT", "故障"),
    "cat.inhibit": ("INHIBITED", "抑制"),
    "cat.shelved": ("SHELVED", "已屏蔽"),
    "a.value": ("value", "当前值"),
    "a.threshold": ("threshold", "报警值"),
    "a.state": ("state", "状态"),
    "a.raised": ("raised", "报警时间"),
    "a.duration": ("for", "持续"),
    "a.acked": ("acknowledged by", "确认人"),
    "a.response": ("response", "响应要求"),
    "a.shelved_until": ("shelved until", "屏蔽至"),
    "a.reason": ("reason", "原因"),
    "mode.off": ("off", "关"),
    "mode.on": ("on", "常亮"),
    "mode.blink_fast": ("flashing fast", "快闪"),
    "mode.blink_slow": ("flashing slowly", "慢闪"),
    "mode.continuous": ("sounding continuously", "连续鸣响"),
    "mode.intermittent": ("sounding intermittently", "间歇鸣响"),
    "mode.chirp": ("short chirp", "短鸣"),
    "mode.active": ("active", "动作"),
    "mode.inactive": ("inactive", "未动作"),
    "driver.starting": ("starting", "启动中"),
    "driver.running": ("running", "运行中"),
    "driver.backoff": ("restarting after an error", "出错后重启中"),
    "driver.stopped": ("stopped", "已停止"),
    "out.buzzer": ("Buzzer", "蜂鸣器"),
    "out.red": ("Red lamp", "红色指示灯"),
    "out.yellow": ("Yellow lamp", "黄色指示灯"),
    "out.green": ("Green lamp", "绿色指示灯"),
    "out.relay": ("Relay", "继电器"),
    "out.plugin": ("Output", "输出"),
    "wall": ("Wall display", "大屏显示"),
    "wall_link": (
        "Wall display link (read-only, keep it private)",
        "大屏显示链接（只读，请妥善保管）",
    ),
    "state.pending": ("pending (on-delay)", "延时确认中"),
    "skip": ("Skip to content", "跳到正文"),
    "nav": ("Pages", "页面"),
    "role.viewer": ("viewer", "查看员"),
    "role.operator": ("operator", "操作员"),
    "role.admin": ("admin", "管理员"),
    "site_label": ("Site", "厂区"),
    "box_label": ("Box", "本机"),
    "h.time": ("Time (box local time)", "时间（本机当地时间）"),
    "h.kind": ("Event", "事件"),
    "h.level": ("Level", "级别"),
    "h.source": ("Source", "来源"),
    "h.details": ("Details", "详情"),
    "h.csv": ("Export CSV", "导出 CSV"),
    "h.none": ("No events in this period.", "此时段内无事件。"),
    "kind.alarm_raised": ("alarm raised", "报警发生"),
    "kind.alarm_cleared": ("alarm cleared", "报警恢复"),
    "kind.alarm_acked": ("acknowledged", "已确认"),
    "kind.alarm_reset": ("reset", "已复位"),
    "kind.alarm_shelved": ("shelved", "已屏蔽"),
    "kind.alarm_unshelved": ("unshelved", "解除屏蔽"),
    "kind.alarm_silenced": ("buzzer silenced", "已消音"),
    "kind.alarm_flood": ("alarm flood", "报警泛滥"),
    "kind.fault": ("fault", "故障"),
    "kind.maintenance_escalation": ("maintenance overdue", "维护超期"),
    "level.0": ("information", "信息"),
    "trend": ("Trend", "趋势"),
    "range": ("Range", "时间范围"),
    "trend.with": ("Show together with", "同时显示"),
    "trend.show": ("Show", "显示"),
    "trend.help": (
        "Drag across the chart to zoom, double-click to zoom out; a gap means no data.",
        "在图上拖动可放大，双击还原；曲线断开处表示无数据。",
    ),
    "trend.no_data": ("No data in this range yet.", "此时间范围内尚无数据。"),
    "trend.time": ("time", "时间"),
    "site.map": (
        "Site plan: drag to pan, wheel or pinch to zoom",
        "厂区图：拖动平移，滚轮或双指缩放",
    ),
    "site.unplaced": ("Not placed on the plan", "未放置到厂区图上的监测点"),
    "site.tray_help_admin": (
        "Drag a point onto the plan, or tap it and then tap the plan; drag a marker to move it.",
        "将监测点拖到图上，或先点选再点击图上位置；拖动标记可移动。",
    ),
    "site.tray_help": ("An admin can place these on the plan.", "管理员可将这些监测点放置到图上。"),
    "site.plan_file": ("Site plan (PNG or JPEG)", "厂区图（PNG 或 JPEG）"),
    "site.placing": ("Tap the plan where {name} is.", "请点击 {name} 在图上的位置。"),
    "people.title": ("People on site", "现场人员"),
    "people.sos": ("SOS", "紧急求救"),
    "people.man_down": ("MAN DOWN", "人员倒地"),
    "people.no_motion": ("no motion", "静止预警"),
    "people.lost": ("tag lost", "标签失联"),
    "people.battery_low": ("battery low", "电量低"),
    "people.inside": ("inside", "区域内人数"),
    "people.cameras": ("cameras", "摄像机"),
    "people.muster_none": ("No muster running.", "当前未进行紧急集合。"),
    "people.muster_start": ("Start muster", "启动紧急集合"),
    "people.muster_end": ("End muster (keep the report)", "结束集合（保存报告）"),
    "people.muster_running": ("Muster running", "紧急集合进行中"),
    "people.accounted": ("Accounted for", "已到集合点"),
    "people.still_inside": ("Still inside", "仍在区域内"),
    "people.missing": ("Missing", "下落不明"),
    "people.replay": ("Trajectory replay", "轨迹回放"),
    "people.person": ("Person", "人员"),
    "people.since": ("Period", "时段"),
    "people.last_15m": ("last 15 minutes", "最近 15 分钟"),
    "people.last_1h": ("last hour", "最近 1 小时"),
    "people.last_8h": ("last 8 hours", "最近 8 小时"),
    "people.last_24h": ("last 24 hours", "最近 24 小时"),
    "people.show": ("Show", "显示"),
    "people.no_track": ("No stored positions in this period.", "此时段内没有存储的位置。"),
    "n_a": ("not available", "无法读取"),
    "sys.readings": ("readings", "读数"),
    "sys.events": ("events", "事件"),
    "sys.check": ("Check", "检查项"),
    "sys.result": ("Result", "结果"),
    "sys.detail": ("Detail", "详情"),
    "sys.fix": ("To fix", "处理方法"),
    "check.ok": ("✔ ok", "✔ 正常"),
    "check.warn": ("⚠ warning", "⚠ 警告"),
    "check.fail": ("✖ failed", "✖ 失败"),
    "checkname.config": ("configuration", "配置"),
    "checkname.keys": ("keys", "密钥"),
    "checkname.key": ("key", "密钥"),
    "checkname.store": ("store", "数据库"),
    "checkname.serial": ("serial port", "串口"),
    "checkname.gpio": ("GPIO", "GPIO"),
    "checkname.broker": ("MQTT broker", "MQTT 服务器"),
    "checkname.web certificate": ("web certificate", "网页证书"),
    "checkname.clock": ("clock", "时钟"),
    "checkname.disk": ("disk", "磁盘"),
    "dur.d": ("d", "天"),
    "dur.h": ("h", "小时"),
    "dur.min": ("min", "分"),
    "dur.s": ("s", "秒"),
    "diff.legend": (
        "Lines starting with - are removed, lines with + are added.",
        "以 - 开头的行将被删除，以 + 开头的行将被添加。",
    ),
    "pw.confirm": ("New password again", "再次输入新密码"),
    "pw.mismatch": ("The two new passwords differ.", "两次输入的新密码不一致。"),
    "pw.rules": (
        "At least 10 characters, at least 5 different ones; not a common password (also not "
        "with digits added), and not containing your user name. A few words make a good one.",
        "至少 10 个字符、至少 5 个不同字符；不能是常见密码（加数字也不行），不能包含用户名。"
        "几个词组合起来就是好密码。",
    ),
    "role": ("Role", "角色"),
    "u.state": ("State", "状态"),
    "u.actions": ("Actions", "操作"),
    "sec.box": ("This box", "本机"),
    "sec.store": ("Storage", "数据存储"),
    "sec.web": ("Web page", "网页"),
    "sec.alarms": ("Alarm handling", "报警处理"),
    "sec.outputs": ("Outputs (buzzer, lamps, relays)", "输出（蜂鸣器、指示灯、继电器）"),
    "sec.inputs": ("Buttons", "按钮"),
    "sec.sync": ("Upstream platform", "上级平台"),
    "sec.channels": ("Channels", "监测点"),
    "sec.drivers": ("Drivers", "驱动"),
    "sec.votes": ("Votes (k out of n)", "表决报警"),
    "sec.profiles": ("Setpoint profiles", "报警值方案"),
    "a.average": ("average", "平均值"),
    "a.limit": ("limit", "限值"),
    "a.range_max": ("range maximum", "量程上限"),
    "a.rise": ("rise", "上升幅度"),
    "u.temporary": (
        "{user}: temporary password {password} (shown once; it must be changed at the first login)",
        "{user}：临时密码 {password}（只显示一次，首次登录时必须修改）",
    ),
    "u.role_changed": ("{user}: role is now {role}", "{user}：角色已改为{role}"),
    "u.removed": ("{user}: account removed", "{user}：账户已删除"),
    "noscript": (
        "This page needs JavaScript to show live values and alarms.",
        "本页面需要启用 JavaScript 才能显示实时数值和报警。",
    ),
    "edit_in_editor": ("edit in the box.toml editor", "请在配置文件编辑器中修改"),
}


# Messages the box gives in English (errors, refusals), as the page shows them in Chinese.
MESSAGES: dict[str, str] = {
    "the password needs at least 10 characters": "密码至少需要 10 个字符",
    "the password must not contain the user name": "密码不能包含用户名",
    "the password needs at least 5 different characters": "密码至少需要 5 个不同的字符",
    "this is one of the most common passwords: choose another": "这是最常见的密码之一，请换一个",
    "a common password with digits or symbols added is still easy to guess": (
        "在常见密码后加数字或符号仍然容易被猜中"
    ),
    "the new password must differ from the old one": "新密码不能与旧密码相同",
    "wrong user name or password": "用户名或密码错误",
    "too many failed logins: try again in a few minutes": "登录失败次数过多，请几分钟后再试",
    "too many attempts: wait a minute": "尝试次数过多，请稍等一分钟",
    "the form expired: load the page again": "表单已过期，请重新加载页面",
    "you cannot remove your own account": "不能删除自己的账户",
    "user names are letters, digits and _ (at most 32)": (
        "用户名只能包含字母、数字和下划线（最多 32 个）"
    ),
    "role must be one of viewer, operator, admin": "角色必须是查看员、操作员或管理员",
}


_WAIT = re.compile(r"too many failed logins: try again in (\d+) s")


def message(text: str) -> str:
    """An English message of the box in the page's language (unchanged if not known)."""
    if lang() != "zh-CN":
        return text
    wait = _WAIT.fullmatch(text)
    if wait:  # the login throttle's answer carries its wait
        return f"登录失败次数过多，请 {wait.group(1)} 秒后再试"
    return MESSAGES.get(text, text)


def lang() -> str:
    chosen = request.args.get("lang") or request.cookies.get("lang")
    if chosen in LANGS:
        return chosen
    return request.accept_languages.best_match(LANGS, default="en") or "en"


def t(key: str) -> str:
    pair = TEXT.get(key)
    if pair is None:
        return key
    return pair[LANGS.index(lang())]


def texts() -> dict[str, str]:
    """Every text in the page's language, for the page's scripts."""
    i = LANGS.index(lang())
    return {key: pair[i] for key, pair in TEXT.items()}


def check_name(name: str) -> str:
    """A doctor check's name in words: "serial /dev/ttyUSB0" -> "串口 /dev/ttyUSB0"."""
    head, _, rest = name.partition(" ")
    for key, tail in ((name, ""), (head, rest)):
        if "checkname." + key in TEXT:
            return f"{t('checkname.' + key)} {tail}".strip()
    return name


def duration(seconds: float) -> str:
    """Seconds as days, hours, minutes (the biggest two units)."""
    s = int(seconds)
    parts = [(s // 86400, "d"), (s % 86400 // 3600, "h"), (s % 3600 // 60, "min"), (s % 60, "s")]
    shown = [(n, u) for n, u in parts if n][:2] or [(0, "s")]
    return " ".join(f"{n} {t('dur.' + u)}" for n, u in shown)

"""The page's two languages (zh-CN, en), chosen by ?lang=, then a cookie, then the browser."""

from __future__ import annotations

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
    "quality": ("quality", "质量"),
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
    "healthy": ("healthy", "运行正常"),
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
    "edit_in_editor": ("edit in the box.toml editor", "请在配置文件编辑器中修改"),
}


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

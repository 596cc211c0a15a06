// Chinese (the default) and English. The choice is remembered in localStorage.
const KEY = 'hotline.lang';

const dict = {
  zh: {
    'phone.title': '话机', 'phone.kind': '接听方式', 'phone.kind_desk': '桌面话机', 'phone.kind_browser': '浏览器（耳麦）',
    'phone.mic': '麦克风', 'phone.speaker': '扬声器', 'phone.level': '音量', 'phone.keypad': '按键',
    'phone.answer': '接听', 'phone.decline': '拒接', 'phone.mute': '静音', 'phone.unmute': '取消静音',
    'phone.hold': '保持', 'phone.resume': '恢复', 'phone.hangup': '挂机',
    'phone.desk': '桌面话机', 'phone.ready': '浏览器话机就绪', 'phone.connecting': '连接中…', 'phone.offline': '话机重连中…',
    'phone.replaced': '话机已在另一页面打开', 'phone.no_mic': '无法使用麦克风：{m}', 'phone.no_speaker': '无法切换扬声器：{m}',
    'phone.ringing_from': '来电：{from}', 'phone.media_failed': '通话音频连接失败',
    'channel.chat': '在线客服', 'channel.email': '邮件', 'channel.voice': '电话',
    'app.agent': '坐席工作台', 'app.wallboard': '班长看板', 'app.home': '热线', 'app.campaigns': '外呼活动', 'app.workforce': '排班',
    'adh.title': '排班遵从', 'adh.centre': '今日遵从率 {p}', 'adh.none': '全部按排班工作', 'adh.row': '{a}：计划{p}，实际{x}，已 {m} 分钟',
    'adh.work': '工作', 'adh.break': '小休', 'adh.lunch': '午餐', 'adh.offline': '培训/会议',
    'adh.ready': '就绪', 'adh.not_ready': '未就绪', 'adh.logged_out': '已登出',
    'login.title': '登录', 'login.user': '用户名', 'login.password': '密码', 'login.submit': '登录',
    'login.failed': '用户名或密码错误', 'logout': '退出',
    'conn.online': '实时', 'conn.offline': '重连中…',
    'state.available': '就绪', 'state.not_ready': '未就绪', 'state.break': '小休',
    'state.logged_out': '已登出', 'state.logged_in': '已登录', 'state.on_call': '通话中',
    'state.ringing': '振铃中', 'state.offered': '振铃中', 'state.busy': '通话中', 'state.wrap_up': '话后处理', 'state.unknown': '未知',
    'reason.admin': '行政事务', 'reason.training': '培训', 'reason.meeting': '会议',
    'reason.coaching': '辅导', 'reason.technical': '系统问题',
    'pop.title': '来电弹屏', 'pop.none': '暂无来电', 'pop.caller': '来电号码',
    'pop.customer': '客户', 'pop.unknown_customer': '未识别的客户', 'pop.vip': 'VIP 客户',
    'pop.repeat': '重复投诉：30 天内 {n} 次未解决投诉', 'pop.history': '最近联系',
    'pop.no_history': '没有以往联系记录', 'pop.accounts': '账户', 'pop.language': '语言',
    'pop.queue': '队列', 'pop.waited': '已等待',
    'call.title': '当前通话', 'call.hangup': '挂断', 'call.transfer': '转接',
    'call.transfer_to': '转接至分机', 'call.escalate': '升级给资深坐席', 'call.abusive': '辱骂来电',
    'call.rec_pause': '暂停录音', 'call.rec_resume': '恢复录音', 'call.rec_paused': '录音已暂停：客户正在提供卡号信息',
    'call.abusive_done': '已播放礼貌提示并结束通话，恢复休息已安排', 'call.ended': '通话已结束',
    'wrap.title': '话后处理', 'wrap.notes': '备注', 'wrap.disposition': '处理结果',
    'wrap.add_note': '添加备注', 'wrap.done': '完成', 'wrap.extend': '延长 30 秒',
    'wrap.left': '剩余', 'wrap.saved': '已保存', 'wrap.pick': '请选择处理结果',
    'disp.resolved': '已解决', 'disp.info': '咨询', 'disp.callback': '需回电',
    'disp.complaint': '投诉（未解决）', 'disp.complaint_resolved': '投诉（已解决）', 'disp.escalated': '已升级',
    'pv.title': '外呼预览', 'pv.dial': '拨打', 'pv.skip': '跳过', 'pv.dialling': '正在拨打 {n}', 'pv.skipped': '已跳过',
    'cb.title': '回电列表', 'cb.voicemail': '语音留言', 'cb.callback': '回电', 'cb.none': '没有待回电', 'cb.unavailable': '回电列表暂不可用',
    'kb.title': '知识库', 'kb.search': '搜索知识库（中文或英文）', 'kb.none': '没有找到文章', 'kb.back': '返回',
    'wb.title': '身心状态', 'wb.handled': '今日接听', 'wb.talk': '今日通话时长',
    'wb.since_pause': '距上次休息', 'wb.suggest': '建议休息 {m} 分钟', 'wb.ok': '状态良好',
    'wb.stress': '压力', 'wb.take_break': '去休息',
    'q.queue': '队列', 'q.waiting': '等待', 'q.longest': '最长等待', 'q.sl': '今日服务水平',
    'q.target': '目标', 'q.abandon': '放弃率', 'q.available': '就绪坐席', 'q.offered': '来电',
    'a.title': '坐席', 'a.agent': '坐席', 'a.state': '状态', 'a.time': '状态时长',
    'a.handled': '接听', 'a.occupancy': '占用率', 'a.stress': '压力',
    'a.unavailable': '坐席列表暂不可用',
    'alerts.title': '告警', 'alerts.none': '一切正常',
    'alert.sl': '队列 {q} 服务水平 {sl} 低于目标 {t}', 'alert.stress': '坐席 {a} 压力偏高',
    'alert.wait': '队列 {q} 有来电等待 {w}',
    'alert.log': '事件日志落后 {s} 秒（{n} 条待写入）：磁盘缓慢',
    'chart.title': '今日每 15 分钟来电量与服务水平', 'chart.offered': '来电量', 'chart.sl': '服务水平',
    'report.csv': '下载日报 (CSV)',
    'calls.title': '最近来电', 'calls.none': '今天还没有来电',
    'calls.from': '主叫', 'calls.agent': '坐席', 'calls.status': '状态', 'calls.quality': '通话质量',
    'alert.quality': '通话 {c} 的{l}语音质量差：MOS {m}，丢包 {p}，抖动 {j} ms', 'leg.caller': '主叫', 'leg.agent': '坐席', 'leg.other': '第三方',
    'mon.title': '监听', 'mon.phone': '我的分机', 'mon.listen': '监听', 'mon.whisper': '耳语', 'mon.barge': '插话',
    'mon.takeover': '接管', 'mon.stop': '停止', 'mon.by': '{s} · {m}', 'mon.taken': '{s} 已接管',
    'mon.mode.listen': '监听', 'mon.mode.whisper': '耳语', 'mon.mode.barge': '插话', 'mon.needphone': '请先填写我的分机', 'mon.phone_kind': '监听话机', 'mon.needbrowser': '浏览器话机尚未就绪',
    'status.waiting': '等待', 'status.talking': '通话', 'status.done': '已结束', 'status.abandoned': '放弃',
    'shortcuts': '快捷键：Alt+A 就绪 · Alt+N 未就绪 · Alt+B 小休 · Alt+D 完成话后 · Alt+X 辱骂来电 · Alt+P 接听 · Alt+M 静音 · Alt+H 保持 · Alt+E 挂机 · / 搜索',
    'err.generic': '操作失败：{m}', 'err.not_available': '此功能暂不可用',
  },
  en: {
    'channel.chat': 'chat', 'channel.email': 'e-mail', 'channel.voice': 'phone',
    'app.agent': 'Agent desktop', 'app.wallboard': 'Wallboard', 'app.home': 'hotline', 'app.campaigns': 'Campaigns', 'app.workforce': 'Workforce',
    'adh.title': 'Adherence', 'adh.centre': 'Today {p}', 'adh.none': 'Everyone is on schedule', 'adh.row': '{a}: planned {p}, actually {x}, for {m} min',
    'adh.work': 'work', 'adh.break': 'break', 'adh.lunch': 'lunch', 'adh.offline': 'training/meeting',
    'adh.ready': 'ready', 'adh.not_ready': 'not ready', 'adh.logged_out': 'logged out',
    'login.title': 'Log in', 'login.user': 'User', 'login.password': 'Password', 'login.submit': 'Log in',
    'login.failed': 'Unknown user or wrong password', 'logout': 'Log out',
    'conn.online': 'Live', 'conn.offline': 'Reconnecting…',
    'state.available': 'Available', 'state.not_ready': 'Not ready', 'state.break': 'Break',
    'state.logged_out': 'Logged out', 'state.logged_in': 'Logged in', 'state.on_call': 'On a call',
    'state.ringing': 'Ringing', 'state.offered': 'Ringing', 'state.busy': 'On a call', 'state.wrap_up': 'Wrap-up', 'state.unknown': 'Unknown',
    'reason.admin': 'Admin work', 'reason.training': 'Training', 'reason.meeting': 'Meeting',
    'reason.coaching': 'Coaching', 'reason.technical': 'Technical problem',
    'pop.title': 'Screen pop', 'pop.none': 'No call', 'pop.caller': 'Caller',
    'pop.customer': 'Customer', 'pop.unknown_customer': 'Unknown customer', 'pop.vip': 'VIP customer',
    'pop.repeat': 'Repeat complaint: {n} unresolved complaints in 30 days', 'pop.history': 'Last contacts',
    'pop.no_history': 'No earlier contacts', 'pop.accounts': 'Accounts', 'pop.language': 'Language',
    'pop.queue': 'Queue', 'pop.waited': 'Waited',
    'call.title': 'Current call', 'call.hangup': 'Hang up', 'call.transfer': 'Transfer',
    'call.transfer_to': 'Transfer to extension', 'call.escalate': 'Escalate to a senior', 'call.abusive': 'Abusive caller',
    'call.rec_pause': 'Pause recording', 'call.rec_resume': 'Resume recording', 'call.rec_paused': 'Recording paused: the caller is giving card details',
    'call.abusive_done': 'The caller heard the polite message; the call is over and a recovery break is on its way', 'call.ended': 'Call ended',
    'wrap.title': 'Wrap-up', 'wrap.notes': 'Notes', 'wrap.disposition': 'Disposition',
    'wrap.add_note': 'Add note', 'wrap.done': 'Done', 'wrap.extend': 'Extend 30 s',
    'wrap.left': 'left', 'wrap.saved': 'Saved', 'wrap.pick': 'Choose a disposition',
    'disp.resolved': 'Resolved', 'disp.info': 'Information', 'disp.callback': 'Call back',
    'disp.complaint': 'Complaint (open)', 'disp.complaint_resolved': 'Complaint (resolved)', 'disp.escalated': 'Escalated',
    'pv.title': 'Preview call', 'pv.dial': 'Dial', 'pv.skip': 'Skip', 'pv.dialling': 'Dialling {n}', 'pv.skipped': 'Skipped',
    'cb.title': 'Callbacks', 'cb.voicemail': 'Voicemail', 'cb.callback': 'Callback', 'cb.none': 'No pending callbacks', 'cb.unavailable': 'Callbacks are not available yet',
    'kb.title': 'Knowledge base', 'kb.search': 'Search articles (Chinese or English)', 'kb.none': 'No articles found', 'kb.back': 'Back',
    'wb.title': 'Wellbeing', 'wb.handled': 'Handled today', 'wb.talk': 'Talk time today',
    'wb.since_pause': 'Since last pause', 'wb.suggest': 'Take a {m} minute break', 'wb.ok': 'Doing fine',
    'wb.stress': 'Stress', 'wb.take_break': 'Take a break',
    'q.queue': 'Queue', 'q.waiting': 'Waiting', 'q.longest': 'Longest wait', 'q.sl': 'Service level today',
    'q.target': 'Target', 'q.abandon': 'Abandoned', 'q.available': 'Agents available', 'q.offered': 'Offered',
    'a.title': 'Agents', 'a.agent': 'Agent', 'a.state': 'State', 'a.time': 'In state',
    'a.handled': 'Handled', 'a.occupancy': 'Occupancy', 'a.stress': 'Stress',
    'a.unavailable': 'The agent list is not available yet',
    'alerts.title': 'Alerts', 'alerts.none': 'All well',
    'alert.sl': 'Queue {q}: service level {sl} below target {t}', 'alert.stress': 'Agent {a}: high stress',
    'alert.wait': 'Queue {q}: a caller has waited {w}',
    'alert.log': 'Event log {s} s behind ({n} events not yet on disk): the disk is slow',
    'chart.title': 'Offered calls and service level per 15 minutes today', 'chart.offered': 'Offered', 'chart.sl': 'Service level',
    'report.csv': 'Download daily report (CSV)',
    'phone.title': 'Phone', 'phone.kind': 'Answer on', 'phone.kind_desk': 'Desk phone', 'phone.kind_browser': 'Browser (headset)',
    'phone.mic': 'Microphone', 'phone.speaker': 'Speaker', 'phone.level': 'Level', 'phone.keypad': 'Keypad',
    'phone.answer': 'Answer', 'phone.decline': 'Decline', 'phone.mute': 'Mute', 'phone.unmute': 'Unmute',
    'phone.hold': 'Hold', 'phone.resume': 'Resume', 'phone.hangup': 'Hang up',
    'phone.desk': 'Desk phone', 'phone.ready': 'Browser phone ready', 'phone.connecting': 'Connecting…', 'phone.offline': 'Phone reconnecting…',
    'phone.replaced': 'The phone is open in another page', 'phone.no_mic': 'Cannot use the microphone: {m}', 'phone.no_speaker': 'Cannot switch the speaker: {m}',
    'phone.ringing_from': 'Incoming call: {from}', 'phone.media_failed': 'The call\'s audio could not connect',
    'calls.title': 'Recent calls', 'calls.none': 'No calls today yet',
    'calls.from': 'From', 'calls.agent': 'Agent', 'calls.status': 'Status', 'calls.quality': 'Quality',
    'alert.quality': 'Call {c}: poor audio on the {l} leg: MOS {m}, loss {p}, jitter {j} ms', 'leg.caller': 'caller', 'leg.agent': 'agent', 'leg.other': 'other party',
    'mon.title': 'Monitor', 'mon.phone': 'My extension', 'mon.phone_kind': 'Monitor on', 'mon.needbrowser': 'The browser phone is not ready yet', 'mon.listen': 'Listen', 'mon.whisper': 'Whisper', 'mon.barge': 'Barge',
    'mon.takeover': 'Take over', 'mon.stop': 'Stop', 'mon.by': '{s} · {m}', 'mon.taken': '{s} took over',
    'mon.mode.listen': 'listening', 'mon.mode.whisper': 'whispering', 'mon.mode.barge': 'barged in', 'mon.needphone': 'Enter your phone extension first',
    'status.waiting': 'Waiting', 'status.talking': 'Talking', 'status.done': 'Ended', 'status.abandoned': 'Abandoned',
    'shortcuts': 'Keys: Alt+A available · Alt+N not ready · Alt+B break · Alt+D wrap-up done · Alt+X abusive caller · Alt+R pause/resume recording · Alt+P answer · Alt+M mute · Alt+H hold · Alt+E hang up · / search',
    'err.generic': 'Failed: {m}', 'err.not_available': 'Not available yet',
  },
};

export const LANGS = ['zh', 'en'];

export function lang() {
  let l = null;
  try { l = localStorage.getItem(KEY); } catch { /* storage blocked */ }
  return LANGS.includes(l) ? l : 'zh';
}

export function t(key, vars = {}) {
  const s = dict[lang()][key] ?? dict.zh[key] ?? key;
  return s.replace(/\{(\w+)\}/g, (_, k) => (k in vars ? String(vars[k]) : ''));
}

// Fills every [data-i18n] (text), [data-i18n-ph] (placeholder), [data-i18n-title] and
// [data-i18n-label] (aria-label) under root.
export function applyI18n(root = document) {
  document.documentElement.lang = lang() === 'zh' ? 'zh-CN' : 'en';
  for (const el of root.querySelectorAll('[data-i18n]')) el.textContent = t(el.dataset.i18n);
  for (const el of root.querySelectorAll('[data-i18n-ph]')) el.placeholder = t(el.dataset.i18nPh);
  for (const el of root.querySelectorAll('[data-i18n-title]')) el.title = t(el.dataset.i18nTitle);
  for (const el of root.querySelectorAll('[data-i18n-label]')) el.setAttribute('aria-label', t(el.dataset.i18nLabel));
}

export function setLang(l) {
  if (!LANGS.includes(l)) return;
  try { localStorage.setItem(KEY, l); } catch { /* storage blocked */ }
  applyI18n();
  window.dispatchEvent(new CustomEvent('langchange', { detail: l }));
}

// A <select> that switches the language.
export function bindLangSwitch(select) {
  select.value = lang();
  select.addEventListener('change', () => setLang(select.value));
}

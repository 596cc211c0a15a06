// The administration page's words, Chinese and English (the shared ones come from i18n.js).
import { lang } from './i18n.js';
import { $$ } from './ui.js';

const words = {
  zh: {
    title: '管理', denied: '管理页面仅限班长和管理员使用。', flows: '流程',
    'flows.hint': '↑↓ 选择流程；Tab 逐个查看步骤。', steps: '步骤与去向',
    numbers: '号码：{n}', 'numbers.none': '没有号码直接进入此流程（由其他流程或系统调用）',
    'numbers.any': '未配置服务号码：所有非坐席号码都进入此流程',
    diagram: '流程 {f} 的流程图：{n} 个步骤，从 {s} 开始', start: '开始', end: '结束',
    'type.play': '放音', 'type.menu': '按键菜单', 'type.collect': '收号', 'type.lookup': '查询客户',
    'type.authenticate': '身份验证', 'type.branch': '条件分支', 'type.set': '设置',
    'type.enqueue': '进入队列', 'type.callback': '预约回电', 'type.voicemail': '语音留言',
    'type.survey': '满意度调查', 'type.hangup': '挂机', 'type.transfer': '转接', 'type.do_not_call': '不再来电',
    'edge.next': '下一步', 'edge.timeout': '超时', 'edge.default': '默认', 'edge.on_failure': '失败',
    'edge.not_found': '未找到', 'edge.else': '否则', 'edge.on_declined': '拒绝回电',
    'detail.queue': '队列', 'detail.to': '转至', 'detail.after_call': '话后', 'detail.reason': '原因',
    'detail.into': '存入', 'detail.prompts': '提示音', 'detail.set': '设置',
    'detail.account_var': '账号变量', 'detail.callback_digit': '回电键',

    // views
    'view.skills': '坐席技能', 'view.flows': '流程', 'view.agents': '坐席', 'view.users': '用户',
    'view.queues': '队列', 'view.numbers': '服务号码', 'view.schedules': '营业时间', 'view.audit': '操作记录',
    nav: '管理页面的视图', 'admin.only': '仅管理员', 'config.unavailable': '此服务器尚不支持在线配置（GET /api/v1/config）。',

    // the skills grid
    'grid.hint': '方向键移动；输入 1–10 后按 Enter 或 Tab 保存；Delete 清除；Esc 取消；拖动等级可复制到其他格子。每行修改立即生效。',
    'grid.agent': '坐席', 'grid.caption': '坐席技能等级（行：坐席，列：技能）',
    'grid.cell': '{a} 的 {s} 技能：{v}', 'grid.empty': '无', 'grid.saved': '{a} 的技能已保存',
    'grid.add_skill': '新技能列', 'grid.add': '添加列', 'grid.queues_use': '队列要求：{q}',
    'grid.bad_skill': '技能名不能为空，也不能已存在',

    // agents
    'agents.h': '坐席', 'agents.add': '新增坐席', 'f.extension': '分机号', 'f.name': '姓名',
    'f.password': 'SIP 密码', 'f.password_keep': '修改用户时留空则不修改密码', 'f.skills': '技能（如 accounts=5, general=3）',
    'f.save': '保存', 'f.edit': '修改', 'f.remove': '删除', 'f.add': '添加', 'f.rename': '改名',
    'agents.removed': '坐席 {a} 已删除', 'agents.added': '坐席 {a} 已添加', 'agents.renamed': '坐席 {a} 已改名',
    'agents.busy': '坐席 {a} 正在通话或振铃，无法删除：请等通话结束（或先让其未就绪）后再试。',
    'agents.confirm': '删除坐席 {a}？其电话将无法再注册。',
    'f.skills_bad': '无法识别“{t}”：请写成 技能=等级，等级 1–10',

    // users
    'users.h': '用户', 'users.add': '新增或修改用户', 'f.user': '用户名', 'f.role': '角色', 'f.agent': '坐席分机',
    'f.user_password': '登录密码', 'role.agent': '坐席', 'role.supervisor': '班长', 'role.admin': '管理员',
    'users.saved': '用户 {u} 已保存', 'users.removed': '用户 {u} 已删除', 'users.confirm': '删除用户 {u}？',
    'f.none': '（无）',

    // queues
    'queues.h': '队列', 'queues.pick': '选择队列', 'queues.new': '新建队列…', 'f.queue_name': '队列名',
    'f.target_seconds': '服务水平目标（秒）', 'f.strategy': '分配策略', 'f.priority': '优先级',
    'f.wrap_up_seconds': '话后处理（秒）', 'f.max_wait_seconds': '最长等待（秒）',
    'f.max_wait_action': '超时后', 'f.overflow_queue': '溢出到队列', 'f.queue_skills': '技能要求（如 accounts=1）', 'f.queue_skills_h': '技能要求',
    'mwa.voicemail': '语音留言', 'mwa.disconnect': '挂断', 'mwa.overflow': '转到溢出队列',
    'strategy.longest-idle': '最长空闲', 'strategy.fewest-contacts': '最少接听', 'strategy.least-occupied': '占用率最低',
    'strategy.round-robin': '轮询', 'strategy.ring-all': '同时振铃', 'strategy.best-skill': '技能最高',
    'queues.saved': '队列 {q} 已保存', 'queues.removed': '队列 {q} 已删除', 'queues.confirm': '删除队列 {q}？',
    'in_use': '仍在使用中，无法删除：{m}',

    // numbers
    'numbers.h': '服务号码', 'f.number': '号码', 'f.flow': '流程', 'numbers.add': '新增号码',
    'numbers.saved': '号码 {n} → 流程 {f}', 'numbers.removed': '号码 {n} 已删除', 'numbers.confirm': '删除号码 {n}？',
    'numbers.empty': '没有单独配置的服务号码（[[numbers]]）。',
    'numbers.centre': '中心服务号码（配置文件 [centre]，需重启才能修改）：{n}',

    // schedules
    'schedules.h': '营业时间与节假日', 'f.timezone': '时区', 'f.open': '营业时段', 'f.days': '星期（空为每天）',
    'f.from': '开始', 'f.to': '结束', 'f.holidays': '节假日', 'f.add_period': '添加时段', 'f.add_holiday': '添加节假日',
    'schedules.saved': '营业时间 {s} 已保存', 'schedules.empty': '没有营业时间表。',
    'day.mon': '一', 'day.tue': '二', 'day.wed': '三', 'day.thu': '四', 'day.fri': '五', 'day.sat': '六', 'day.sun': '日',
    'f.remove_period': '删除时段 {n}', 'f.remove_holiday': '删除节假日 {d}',

    // reload
    'reload': '重新加载配置文件', 'reload.none': '配置文件没有变化。', 'reload.applied': '已应用：{l}',
    'reload.restart': '需重启才能生效：{l}',

    // audit
    'audit.h': '操作记录', 'audit.since': '时间范围', 'audit.day': '最近 24 小时', 'audit.week': '最近 7 天',
    'audit.month': '最近 30 天', 'audit.all': '全部', 'audit.config_only': '只看配置修改',
    'audit.when': '时间', 'audit.who': '操作人', 'audit.what': '操作', 'audit.target': '对象', 'audit.change': '修改内容',
    'audit.none': '此时间范围内没有记录。', 'audit.added': '新增', 'audit.removed': '删除',
    'action.config': '配置修改', 'action.agent_skills': '技能修改', 'action.login': '登录',
    'action.recording_removed': '删除录音', 'action.export': '导出', 'action.agent.state': '坐席状态',
    'action.recording_download': '下载录音', 'action.fault_notice_on': '开启故障通知', 'action.fault_notice_off': '关闭故障通知',
    'err.field': '{f}：{m}',

    // items edited as JSON: flows, trunks, routing, wellbeing
    'items.name': '名称', 'items.json': '定义（JSON，与配置文件的键相同）',
    'items.hint': '保存时由服务器按配置文件同样的规则检查；被拒绝时什么都不会改变。',
    'items.bad_json': '不是有效的 JSON：{m}', 'items.no_name': '请填写名称', 'items.saved': '{k} 已保存，立即生效',
    'items.confirm': '删除 {k}？',
    'flows.edit': '编辑此流程', 'flows.new': '新建流程', 'flows.editing': '编辑流程 {f}', 'flows.close': '关闭', 'flows.discard': '放弃未保存的修改？',
    'flows.json_hint': 'start：第一个步骤；steps：各步骤（type 及其去向）。保存前会检查每个去向、队列和营业时间表是否存在。',
    'flows.saved': '流程 {f} 已保存。已在此流程中的来电继续按原来的版本进行；新的来电使用新版本。',
    'flows.removed': '流程 {f} 已删除。',
    'view.settings': '中继与规则', 'settings.h': '中继、路由与关怀规则',
    'settings.hint': '每项以 JSON 编辑，键与配置文件相同；保存后立即生效，并记入操作记录。',
    'trunks.h': '中继', 'trunks.one': '中继 {t}', 'trunks.new': '新增中继',
    'trunks.hint': '键：name, sources（可信来源网段）, username, password（填写后在服务器端转为摘要；不填则保留原密码）, outbound, srtp, register…',
    'routing.h': '路由规则（[routing]）', 'routing.hint': '键：max_no_answer, max_declines, retry_seconds, retry_max_seconds, vip_boost, preferred_agent_seconds, ring_all_limit, senior_skill（需重启）。',
    'wellbeing.h': '坐席关怀规则（[wellbeing]）', 'wellbeing.hint': '键：enabled, agitation_threshold, recovery_break_seconds, max_difficult_in_row, fair_spread, occupancy_ceiling, occupancy_window_minutes, max_pause_seconds, escalate_agitation。',

    // agents' states, set by a supervisor
    'state.set': '设置 {a} 的状态', 'state.choose': '设置状态…', 'state.done': '{a}：{s}', 'state.go': '设置', 'state.apply': '设置 {a} 为所选状态',
  },
  en: {
    title: 'Administration', denied: 'The administration page is for supervisors and administrators.',
    flows: 'Flows', 'flows.hint': '↑↓ choose a flow; Tab walks through its steps.', steps: 'Steps and where they lead',
    numbers: 'Numbers: {n}', 'numbers.none': 'No number leads here directly (entered from another flow or by the centre)',
    'numbers.any': 'No service number is configured: every number that is no agent\'s leads here',
    diagram: 'Diagram of the flow {f}: {n} steps, starting at {s}', start: 'start', end: 'end',
    'type.play': 'Play', 'type.menu': 'Menu', 'type.collect': 'Collect digits', 'type.lookup': 'Look up caller',
    'type.authenticate': 'Authenticate', 'type.branch': 'Branch', 'type.set': 'Set',
    'type.enqueue': 'Queue', 'type.callback': 'Callback', 'type.voicemail': 'Voicemail',
    'type.survey': 'Survey', 'type.hangup': 'Hang up', 'type.transfer': 'Transfer', 'type.do_not_call': 'Do not call',
    'edge.next': 'next', 'edge.timeout': 'timeout', 'edge.default': 'default', 'edge.on_failure': 'failed',
    'edge.not_found': 'not found', 'edge.else': 'else', 'edge.on_declined': 'declined',
    'detail.queue': 'queue', 'detail.to': 'to', 'detail.after_call': 'after call', 'detail.reason': 'reason',
    'detail.into': 'into', 'detail.prompts': 'prompts', 'detail.set': 'set',
    'detail.account_var': 'account', 'detail.callback_digit': 'callback key',

    'view.skills': 'Skills', 'view.flows': 'Flows', 'view.agents': 'Agents', 'view.users': 'Users',
    'view.queues': 'Queues', 'view.numbers': 'Numbers', 'view.schedules': 'Hours', 'view.audit': 'Audit trail',
    nav: 'Views of the administration page', 'admin.only': 'administrators only', 'config.unavailable': 'This server cannot change its configuration live yet (GET /api/v1/config).',

    'grid.hint': 'Arrow keys move; type 1–10 and press Enter or Tab to save; Delete clears; Esc cancels; drag a level onto other cells to copy it. Each row\'s change applies at once.',
    'grid.agent': 'Agent', 'grid.caption': 'Agents\' skill levels (rows: agents, columns: skills)',
    'grid.cell': '{a}, {s}: {v}', 'grid.empty': 'none', 'grid.saved': 'Skills of {a} saved',
    'grid.add_skill': 'New skill column', 'grid.add': 'Add column', 'grid.queues_use': 'Queues need: {q}',
    'grid.bad_skill': 'A skill name is not empty and not already a column',

    'agents.h': 'Agents', 'agents.add': 'Add an agent', 'f.extension': 'Extension', 'f.name': 'Name',
    'f.password': 'SIP password', 'f.password_keep': 'when changing a user, empty keeps the password', 'f.skills': 'Skills (e.g. accounts=5, general=3)',
    'f.save': 'Save', 'f.edit': 'Edit', 'f.remove': 'Remove', 'f.add': 'Add', 'f.rename': 'Rename',
    'agents.removed': 'Agent {a} removed', 'agents.added': 'Agent {a} added', 'agents.renamed': 'Agent {a} renamed',
    'agents.busy': 'Agent {a} is on a call or being offered one and cannot be removed now: try again when the call is over (or set the agent not ready first).',
    'agents.confirm': 'Remove agent {a}? Its phones will no longer register.',
    'f.skills_bad': 'Cannot read “{t}”: write skill=level, levels 1–10',

    'users.h': 'Users', 'users.add': 'Add or change a user', 'f.user': 'User name', 'f.role': 'Role', 'f.agent': 'Agent extension',
    'f.user_password': 'Password', 'role.agent': 'Agent', 'role.supervisor': 'Supervisor', 'role.admin': 'Administrator',
    'users.saved': 'User {u} saved', 'users.removed': 'User {u} removed', 'users.confirm': 'Remove user {u}?',
    'f.none': '(none)',

    'queues.h': 'Queues', 'queues.pick': 'Queue', 'queues.new': 'New queue…', 'f.queue_name': 'Queue name',
    'f.target_seconds': 'Service-level target (s)', 'f.strategy': 'Strategy', 'f.priority': 'Priority',
    'f.wrap_up_seconds': 'Wrap-up (s)', 'f.max_wait_seconds': 'Maximum wait (s)',
    'f.max_wait_action': 'Then', 'f.overflow_queue': 'Overflow queue', 'f.queue_skills': 'Skills needed (e.g. accounts=1)', 'f.queue_skills_h': 'Skills needed',
    'mwa.voicemail': 'voicemail', 'mwa.disconnect': 'hang up', 'mwa.overflow': 'move to the overflow queue',
    'strategy.longest-idle': 'longest idle', 'strategy.fewest-contacts': 'fewest contacts', 'strategy.least-occupied': 'least occupied',
    'strategy.round-robin': 'round robin', 'strategy.ring-all': 'ring all', 'strategy.best-skill': 'best skill',
    'queues.saved': 'Queue {q} saved', 'queues.removed': 'Queue {q} removed', 'queues.confirm': 'Remove queue {q}?',
    'in_use': 'Still in use, not removed: {m}',

    'numbers.h': 'Service numbers', 'f.number': 'Number', 'f.flow': 'Flow', 'numbers.add': 'Add a number',
    'numbers.saved': 'Number {n} → flow {f}', 'numbers.removed': 'Number {n} removed', 'numbers.confirm': 'Remove number {n}?',
    'numbers.empty': 'No numbers with a flow of their own ([[numbers]]).',
    'numbers.centre': 'The centre\'s service numbers (file, [centre]; a restart changes them): {n}',

    'schedules.h': 'Business hours and holidays', 'f.timezone': 'Time zone', 'f.open': 'Open periods', 'f.days': 'Days (empty: every day)',
    'f.from': 'From', 'f.to': 'To', 'f.holidays': 'Holidays', 'f.add_period': 'Add a period', 'f.add_holiday': 'Add a holiday',
    'schedules.saved': 'Hours {s} saved', 'schedules.empty': 'No schedules.',
    'day.mon': 'Mon', 'day.tue': 'Tue', 'day.wed': 'Wed', 'day.thu': 'Thu', 'day.fri': 'Fri', 'day.sat': 'Sat', 'day.sun': 'Sun',
    'f.remove_period': 'Remove period {n}', 'f.remove_holiday': 'Remove holiday {d}',

    'reload': 'Reload the configuration file', 'reload.none': 'The files have not changed.', 'reload.applied': 'Applied: {l}',
    'reload.restart': 'Needs a restart: {l}',

    'audit.h': 'Audit trail', 'audit.since': 'Period', 'audit.day': 'last 24 hours', 'audit.week': 'last 7 days',
    'audit.month': 'last 30 days', 'audit.all': 'everything', 'audit.config_only': 'Configuration changes only',
    'audit.when': 'When', 'audit.who': 'Who', 'audit.what': 'What', 'audit.target': 'Target', 'audit.change': 'Change',
    'audit.none': 'Nothing in this period.', 'audit.added': 'added', 'audit.removed': 'removed',
    'action.config': 'configuration', 'action.agent_skills': 'skills', 'action.login': 'login',
    'action.recording_removed': 'recording removed', 'action.export': 'export', 'action.agent.state': 'agent state',
    'action.recording_download': 'recording downloaded', 'action.fault_notice_on': 'fault notice on', 'action.fault_notice_off': 'fault notice off',
    'err.field': '{f}: {m}',

    'items.name': 'Name', 'items.json': 'Definition (JSON, the file\'s keys)',
    'items.hint': 'Checked by the server as strictly as the file when saved; a refused save changes nothing.',
    'items.bad_json': 'Not valid JSON: {m}', 'items.no_name': 'A name is needed', 'items.saved': '{k} saved; it applies at once',
    'items.confirm': 'Remove {k}?',
    'flows.edit': 'Edit this flow', 'flows.new': 'New flow', 'flows.editing': 'Editing flow {f}', 'flows.close': 'Close', 'flows.discard': 'Discard the changes not saved?',
    'flows.json_hint': 'start: the first step; steps: each step (its type and where it leads). Every step, queue and schedule named must exist.',
    'flows.saved': 'Flow {f} saved. Calls already in this flow go on with the version they started with; new calls take the new one.',
    'flows.removed': 'Flow {f} removed.',
    'view.settings': 'Trunks & rules', 'settings.h': 'Trunks, routing and wellbeing rules',
    'settings.hint': 'Each item is edited as JSON with the file\'s keys; a save applies at once and is in the audit trail.',
    'trunks.h': 'Trunks', 'trunks.one': 'Trunk {t}', 'trunks.new': 'Add a trunk',
    'trunks.hint': 'Keys: name, sources (trusted networks), username, password (turned into digests by the server; leave it out to keep the old one), outbound, srtp, register…',
    'routing.h': 'Routing rules ([routing])', 'routing.hint': 'Keys: max_no_answer, max_declines, retry_seconds, retry_max_seconds, vip_boost, preferred_agent_seconds, ring_all_limit, senior_skill (at the next start).',
    'wellbeing.h': 'Wellbeing rules ([wellbeing])', 'wellbeing.hint': 'Keys: enabled, agitation_threshold, recovery_break_seconds, max_difficult_in_row, fair_spread, occupancy_ceiling, occupancy_window_minutes, max_pause_seconds, escalate_agitation.',

    'state.set': 'Set the state of {a}', 'state.choose': 'Set state…', 'state.done': '{a}: {s}', 'state.go': 'Set', 'state.apply': 'Give {a} the chosen state',
  },
};

export function w(key, vars = {}) {
  const s = (words[lang()] || words.zh)[key] ?? words.zh[key] ?? key;
  return s.replace(/\{(\w+)\}/g, (_, k) => (k in vars ? String(vars[k]) : ''));
}

// A word that may be missing: the key's own text (e.g. an unknown audit action) when it is.
export function wOr(key, fallback) {
  const d = words[lang()] || words.zh;
  return d[key] ?? words.zh[key] ?? fallback;
}

// Fills [data-i18n-admin] (text) and [data-i18n-admin-label] (aria-label) under root.
export function applyWords(root = document) {
  for (const e of $$('[data-i18n-admin]', root)) e.textContent = w(e.dataset.i18nAdmin);
  for (const e of $$('[data-i18n-admin-label]', root)) e.setAttribute('aria-label', w(e.dataset.i18nAdminLabel));
  document.title = `hotline · ${w('title')}`;
}

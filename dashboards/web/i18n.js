/* global navigator, localStorage, document */
// Labels of the page in Chinese and English. Quantity names come from the catalog through /api/plants.

const STRINGS = {
  zh: {
    title: '清流 · 实时监测',
    plant: '企业',
    water: '废水排放口',
    energy: '能源',
    emissions: '废气排放口',
    good: '正常',
    uncertain: '存疑',
    bad: '无效',
    noData: '暂无数据',
    limit: '限值',
    provisional: '暂定',
    exceeded: '超标',
    live: '实时',
    connecting: '连接中…',
    reconnecting: '重连中…',
    offline: '已断开',
    tokenMissing: '缺少访问令牌：请打开 cleanstream up 打印的链接（带 ?token=）。',
    unauthorized: '访问令牌无效或已失效。',
    forbidden: '该令牌无权查看此企业或区域。',
    noPlants: '该令牌的权限范围内没有企业。',
    loadFailed: '加载失败：',
    region: '地区',
    industry: '行业',
    limitsNote: '限值取自排放标准及许可证数据（rules/limits），括号内为依据；以排污许可证为准。',
    switchTo: 'English',
    secondsAgo: '秒前',
    minutesAgo: '分钟前',
    'pulp-paper': '造纸',
    'textile-dyeing': '印染',
    steel: '钢铁',
    cement: '水泥',
    'thermal-power': '火电',
    chemicals: '化工',
    overview: '区域总览',
    regionOverview: '区域总览',
    openAlerts: '未关闭报警',
    noOpenAlerts: '暂无未关闭报警',
    back: '← 返回',
    ackComment: '确认说明（必填）',
    acknowledge: '确认报警',
    history: '报警记录',
    warning: '提示',
    minor: '一般',
    major: '严重',
    critical: '紧急',
    raised: '未确认',
    acknowledged: '已确认',
    cleared: '已恢复',
    updated: '更新',
    renotified: '再次通知',
    escalated: '已升级',
    raisedAt: '发生时间',
    updatedAt: '更新时间',
    clearedAt: '恢复时间',
    ackedBy: '确认人',
    comment: '说明',
    count: '次数',
    value: '数值',
    meter: '仪表',
    rule: '规则',
    commentRequired: '请填写确认说明。',
    sending: '提交中…',
    ackConfirmed: '已确认。',
    ackPending: '已提交，等待规则服务确认。',
    notFound: '未找到（报警可能已被新的报警取代）。',
    conflict: '无法确认：',
    'status-ok': '正常',
    'status-degraded': '部分异常',
    'status-offline': '离线',
    'status-no-data': '无数据',
    lastData: '最新数据',
    meters: '仪表在线',
    'load-cod': '本月COD排放量',
    'load-nh3n': '本月氨氮排放量',
    ofLastMonth: '上月',
    'transition-raised': '发生',
    'transition-updated': '再次超限',
    'transition-renotified': '再次通知',
    'transition-escalated': '升级',
    'transition-acknowledged': '确认',
    'transition-cleared': '恢复',
    loadsNote: '排放量 = 小时均值浓度 × 小时流量，按北京时间自然月累计；进度条为本月累计与上月总量之比。减排基准值尚未配置。',
  },
  en: {
    title: 'cleanstream · live',
    plant: 'Plant',
    water: 'Wastewater outfall',
    energy: 'Energy',
    emissions: 'Stack emissions',
    good: 'good',
    uncertain: 'uncertain',
    bad: 'bad',
    noData: 'no data yet',
    limit: 'Limit',
    provisional: 'provisional',
    exceeded: 'over limit',
    live: 'live',
    connecting: 'connecting…',
    reconnecting: 'reconnecting…',
    offline: 'disconnected',
    tokenMissing: 'No access token: open the link printed by cleanstream up (with ?token=).',
    unauthorized: 'The access token is unknown or no longer valid.',
    forbidden: 'This token may not see this plant or region.',
    noPlants: 'No plants are in this token\'s scope.',
    loadFailed: 'Loading failed: ',
    region: 'Region',
    industry: 'Industry',
    limitsNote: 'Limits come from the standards and permits data (rules/limits), with the source in brackets; the discharge permit prevails.',
    switchTo: '中文',
    secondsAgo: 's ago',
    minutesAgo: 'min ago',
    'pulp-paper': 'pulp & paper',
    'textile-dyeing': 'textile dyeing',
    steel: 'steel',
    cement: 'cement',
    'thermal-power': 'thermal power',
    chemicals: 'chemicals',
    overview: 'Region overview',
    regionOverview: 'Region overview',
    openAlerts: 'Open alerts',
    noOpenAlerts: 'No open alerts',
    back: '← Back',
    ackComment: 'Comment (required)',
    acknowledge: 'Acknowledge',
    history: 'History',
    warning: 'warning',
    minor: 'minor',
    major: 'major',
    critical: 'critical',
    raised: 'unacknowledged',
    acknowledged: 'acknowledged',
    cleared: 'cleared',
    updated: 'updated',
    renotified: 'notified again',
    escalated: 'escalated',
    raisedAt: 'Raised',
    updatedAt: 'Updated',
    clearedAt: 'Cleared',
    ackedBy: 'Acknowledged by',
    comment: 'Comment',
    count: 'Count',
    value: 'Value',
    meter: 'Meter',
    rule: 'Rule',
    commentRequired: 'Please write a comment.',
    sending: 'Sending…',
    ackConfirmed: 'Acknowledged.',
    ackPending: 'Sent; waiting for the rules service to confirm.',
    notFound: 'Not found (the alert may have been superseded by a later one).',
    conflict: 'Cannot acknowledge: ',
    'status-ok': 'ok',
    'status-degraded': 'degraded',
    'status-offline': 'offline',
    'status-no-data': 'no data',
    lastData: 'Last data',
    meters: 'meters reporting',
    'load-cod': 'COD this month',
    'load-nh3n': 'NH3-N this month',
    ofLastMonth: 'of last month',
    'transition-raised': 'raised',
    'transition-updated': 'triggered again',
    'transition-renotified': 'notified again',
    'transition-escalated': 'escalated',
    'transition-acknowledged': 'acknowledged',
    'transition-cleared': 'cleared',
    loadsNote: 'Loads = hourly mean concentration × hourly flow, summed per calendar month (China Standard Time); bars compare this month so far with last month. Reduction baselines are not configured yet.',
  },
};

const STORAGE_KEY = 'cleanstream.lang';

/** A choice made with the switch wins; else the browser's languages, Chinese first, then English; else Chinese. */
export function initialLanguage() {
  const chosen = localStorage.getItem(STORAGE_KEY);
  if (chosen === 'zh' || chosen === 'en') return chosen;
  const languages = (navigator.languages && navigator.languages.length ? navigator.languages : [navigator.language || '']).map((l) => l.toLowerCase());
  if (languages.some((l) => l.startsWith('zh'))) return 'zh';
  if (languages.some((l) => l.startsWith('en'))) return 'en';
  return 'zh';
}

let current = 'zh';

export function setLanguage(lang, remember) {
  current = lang;
  if (remember) localStorage.setItem(STORAGE_KEY, lang);
  document.documentElement.lang = lang === 'zh' ? 'zh-CN' : 'en';
  for (const el of document.querySelectorAll('[data-i18n]')) el.textContent = t(el.dataset.i18n);
  document.title = t('title');
}

export function language() {
  return current;
}

export function t(key) {
  return STRINGS[current][key] ?? STRINGS.en[key] ?? key;
}

/** A { en, zh } name from the API in the current language. */
export function localized(name) {
  return (name && (name[current] || name.en)) || '';
}

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
    forbidden: '该令牌无权查看此企业。',
    noPlants: '该令牌的权限范围内没有企业。',
    loadFailed: '加载失败：',
    region: '地区',
    industry: '行业',
    limitsNote: '限值为演示用暂定值（按行业标准粗略取值），不代替排污许可证规定的限值。',
    switchTo: 'English',
    secondsAgo: '秒前',
    minutesAgo: '分钟前',
    'pulp-paper': '造纸',
    'textile-dyeing': '印染',
    steel: '钢铁',
    cement: '水泥',
    'thermal-power': '火电',
    chemicals: '化工',
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
    forbidden: 'This token may not see this plant.',
    noPlants: 'No plants are in this token\'s scope.',
    loadFailed: 'Loading failed: ',
    region: 'Region',
    industry: 'Industry',
    limitsNote: 'Limits are provisional demo values (rough industry-standard figures), not the limits of a discharge permit.',
    switchTo: '中文',
    secondsAgo: 's ago',
    minutesAgo: 'min ago',
    'pulp-paper': 'pulp & paper',
    'textile-dyeing': 'textile dyeing',
    steel: 'steel',
    cement: 'cement',
    'thermal-power': 'thermal power',
    chemicals: 'chemicals',
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

/**
 * Grafana dashboards as typed code (@grafana/grafana-foundation-sdk): a plant view, a region view and a fleet view of
 * what ingest and rules write to InfluxDB, queried with InfluxQL through one provisioned datasource.
 *
 * The InfluxDB schema (measurements, tags, fields, who writes them) is influxdb/README.md; measurement names come from
 * influxdb/schema.ts. InfluxDB has no region tag: regions come from the plant registry, as a custom
 * variable whose value is a regex alternation of the region's plant ids.
 *
 * Loads use the method of the dashboard API (dashboards/reductions.ts): hourly mean concentration × hourly mean flow of
 * the plant's outfall; InfluxQL multiplies the two means of one plant's water series per hour (one outfall per plant,
 * as in the demo registry).
 */
import * as cog from '@grafana/grafana-foundation-sdk/cog';
import * as common from '@grafana/grafana-foundation-sdk/common';
import * as dashboard from '@grafana/grafana-foundation-sdk/dashboard';
import * as stat from '@grafana/grafana-foundation-sdk/stat';
import * as table from '@grafana/grafana-foundation-sdk/table';
import * as timeseries from '@grafana/grafana-foundation-sdk/timeseries';
import * as barchart from '@grafana/grafana-foundation-sdk/barchart';
import type { QuantityId } from '../../core/catalog.ts';
import type { Plant, PlantRegistry } from '../../core/plants.ts';
import { quoteIdentifier, type MEASUREMENTS } from '../../influxdb/schema.ts';

export const DATASOURCE = { type: 'influxdb', uid: 'cleanstream-influxdb' } as const;

/** A raw InfluxQL target of Grafana's InfluxDB datasource (the SDK ships no InfluxDB query type). */
export interface InfluxQLQuery extends cog.Dataquery {
  refId: string;
  datasource: { type: string; uid: string };
  query: string;
  rawQuery: true;
  resultFormat: 'time_series' | 'table';
  alias?: string;
}

export class InfluxQLBuilder implements cog.Builder<cog.Dataquery> {
  private readonly internal: InfluxQLQuery;

  constructor(query: string, refId = 'A') {
    this.internal = { refId, datasource: { ...DATASOURCE }, query, rawQuery: true, resultFormat: 'time_series', _implementsDataqueryVariant: () => {} };
  }

  table(): this {
    this.internal.resultFormat = 'table';
    return this;
  }

  alias(alias: string): this {
    this.internal.alias = alias;
    return this;
  }

  build(): InfluxQLQuery {
    return this.internal;
  }
}

const influxql = (query: string, refId = 'A') => new InfluxQLBuilder(query, refId);

const series = (title: string, unit: string, target: InfluxQLBuilder) =>
  new timeseries.PanelBuilder().title(title).datasource(DATASOURCE).unit(unit).height(8).span(12).withTarget(target);

/** Mean of a quantity per interval, one line per meter of the plant. */
/** A measurement of influxdb/schema.ts as an InfluxQL identifier. */
const from = (measurement: (typeof MEASUREMENTS)[number]): string => quoteIdentifier(measurement);

function plantQuantity(measurement: string, quantity: string): string {
  return `SELECT mean("${quantity}") FROM ${quoteIdentifier(measurement)} WHERE "plant" = '$plant' AND $timeFilter GROUP BY time($__interval), "meter" fill(none)`;
}

/** kg per hour of a pollutant for the plants matching `plantCondition`. */
function hourlyLoad(pollutant: 'cod' | 'nh3n', plantCondition: string): string {
  return `SELECT mean("${pollutant}") * mean("wastewater_flow") / 1000 AS "kg" FROM ${from('water')} WHERE ${plantCondition} AND $timeFilter GROUP BY time(1h), "plant"`;
}

function dailyLoad(pollutant: 'cod' | 'nh3n', plantCondition: string): string {
  return `SELECT sum("kg") AS "${pollutant}_kg" FROM (${hourlyLoad(pollutant, plantCondition)}) WHERE $timeFilter GROUP BY time(1d, -8h), "plant" fill(none)`;
}

/** A concentration per interval against the plant's baselines for it, one dashed line per level (plant, learned, I–III). */
function againstBaselines(title: string, pollutant: 'cod' | 'nh3n') {
  return series(title, 'mg/L', influxql(plantQuantity('water', pollutant)).alias('$tag_meter'))
    .withTarget(
      influxql(
        // each run of rules' history job writes the baselines in force; fill(previous) holds them between runs
        `SELECT last("value") FROM ${from('baselines')} WHERE "plant" = '$plant' AND "indicator" = '${pollutant}' AND $timeFilter GROUP BY time($__interval), "level" fill(previous)`,
        'B',
      ).alias('baseline $tag_level / 基准值'),
    )
    .overrideByQuery('B', [{ id: 'custom.lineStyle', value: { fill: 'dash', dash: [10, 10] } }])
    .legend(legend());
}

/** Tonnes discharged per month against the tonnes the same flow would have carried at the plant's baseline. */
function monthlyAgainstBaseline(title: string, pollutant: 'cod' | 'nh3n') {
  return new barchart.PanelBuilder()
    .title(title)
    .datasource(DATASOURCE)
    .unit('suffix: t')
    .height(8)
    .span(12)
    // the months of the last year, whatever range the dashboard shows (rules writes each month at its start)
    .timeFrom('1y')
    .xField('month')
    .legend(legend())
    .withTarget(
      influxql(
        `SELECT last("discharged_t") AS "discharged / 排放量", last("baseline_t") AS "baseline / 基准排放量" FROM ${from('reductions')} WHERE "scope" = 'plant' AND "plant" = '$plant' AND "pollutant" = '${pollutant}' AND $timeFilter GROUP BY "month"`,
      ).table(),
    );
}

/** A legend where a panel's lines differ in kind (actual, baseline), not only in meter. */
const legend = () => new common.VizLegendOptionsBuilder().showLegend(true).displayMode(common.LegendDisplayMode.List).placement(common.LegendPlacement.Bottom);

const base = (uid: string, title: string) =>
  new dashboard.DashboardBuilder(title).uid(uid).tags(['cleanstream']).timezone('Asia/Shanghai').time({ from: 'now-6h', to: 'now' }).refresh('30s').readonly();

export function plantDashboard(): dashboard.Dashboard {
  const plant = new dashboard.QueryVariableBuilder('plant')
    .label('Plant / 企业')
    .datasource(DATASOURCE)
    .query(`SHOW TAG VALUES FROM ${from('water')} WITH KEY = "plant"`)
    .refresh(dashboard.VariableRefresh.OnDashboardLoad);
  return base('cleanstream-plant', 'cleanstream · plant / 企业')
    .withVariable(plant)
    .withRow(new dashboard.RowBuilder('Wastewater outfall / 废水排放口'))
    .withPanel(series('Wastewater flow / 废水流量', 'm3/h', influxql(plantQuantity('water', 'wastewater_flow')).alias('$tag_meter')))
    .withPanel(series('COD / 化学需氧量', 'mg/L', influxql(plantQuantity('water', 'cod')).alias('$tag_meter')))
    .withPanel(series('NH3-N / 氨氮', 'mg/L', influxql(plantQuantity('water', 'nh3n')).alias('$tag_meter')))
    .withPanel(series('pH', 'none', influxql(plantQuantity('water', 'ph')).alias('$tag_meter')))
    .withPanel(
      new barchart.PanelBuilder()
        .title('COD and NH3-N load per day (kg) / 日排放量')
        .datasource(DATASOURCE)
        .height(8)
        .span(12)
        .withTarget(influxql(dailyLoad('cod', `"plant" = '$plant'`), 'A'))
        .withTarget(influxql(dailyLoad('nh3n', `"plant" = '$plant'`), 'B')),
    )
    .withPanel(
      new stat.PanelBuilder()
        .title('COD readings received / with a value / 数据完整性')
        .datasource(DATASOURCE)
        .height(8)
        .span(12)
        .withTarget(influxql(`SELECT count("cod_quality") FROM ${from('water')} WHERE "plant" = '$plant' AND $timeFilter`, 'A').alias('received'))
        .withTarget(influxql(`SELECT count("cod") FROM ${from('water')} WHERE "plant" = '$plant' AND $timeFilter`, 'B').alias('with a value')),
    )
    .withRow(new dashboard.RowBuilder('Clean-production baselines / 清洁生产基准'))
    .withPanel(againstBaselines('COD against baselines / 化学需氧量与基准值', 'cod'))
    .withPanel(againstBaselines('NH3-N against baselines / 氨氮与基准值', 'nh3n'))
    .withPanel(monthlyAgainstBaseline('COD per month against baseline (t) / 月COD排放量与基准', 'cod'))
    .withPanel(monthlyAgainstBaseline('NH3-N per month against baseline (t) / 月氨氮排放量与基准', 'nh3n'))
    .withPanel(
      new table.PanelBuilder()
        .title('Baselines in force / 现行基准值')
        .datasource(DATASOURCE)
        .height(8)
        .span(24)
        .withTarget(influxql(`SELECT last("value") AS "value", last("verified") AS "verified" FROM ${from('baselines')} WHERE "plant" = '$plant' AND $timeFilter GROUP BY "indicator", "level", "source"`).table()),
    )
    .withRow(new dashboard.RowBuilder('Energy / 能源'))
    .withPanel(series('Active power / 有功功率', 'kwatt', influxql(plantQuantity('energy', 'active_power')).alias('$tag_meter')))
    .withPanel(series('Energy per interval / 用电量', 'kwatth', influxql(`SELECT spread("active_energy") FROM ${from('energy')} WHERE "plant" = '$plant' AND $timeFilter GROUP BY time($__interval), "meter" fill(none)`).alias('$tag_meter')))
    .withRow(new dashboard.RowBuilder('Production / 生产'))
    .withPanel(series('Production rate / 产量速率', 't/h', influxql(plantQuantity('production', 'production_rate')).alias('$tag_meter')))
    .withPanel(series('Production per interval / 产量', 't', influxql(`SELECT spread("production_total") FROM ${from('production')} WHERE "plant" = '$plant' AND $timeFilter GROUP BY time($__interval), "meter" fill(none)`).alias('$tag_meter')))
    .withRow(new dashboard.RowBuilder('Stack emissions / 废气排放口'))
    .withPanel(series('SO2 / NOx / particulate (mg/m3)', 'none', influxql(`SELECT mean("so2") AS "so2", mean("nox") AS "nox", mean("particulate") AS "particulate" FROM ${from('emissions')} WHERE "plant" = '$plant' AND $timeFilter GROUP BY time($__interval) fill(none)`)))
    .withPanel(series('O2 / 氧含量', 'percent', influxql(plantQuantity('emissions', 'o2')).alias('$tag_meter')))
    .withRow(new dashboard.RowBuilder('Alerts / 报警'))
    .withPanel(
      new table.PanelBuilder()
        .title('Alert transitions / 报警记录')
        .datasource(DATASOURCE)
        .height(8)
        .span(24)
        .withTarget(influxql(`SELECT "transition", "state", "value", "limit", "count", "peak", "by", "comment", "id", "rule", "meter", "severity" FROM ${from('alerts')} WHERE "plant" = '$plant' AND $timeFilter ORDER BY time DESC LIMIT 200`).table()),
    )
    .build();
}

/** `label : value` pairs of Grafana's custom variable; a region's value matches its plants' ids. */
export function regionOptions(registry: PlantRegistry): string {
  const regions = [...new Set([...registry.regions.map((r) => r.id), ...registry.plants.map((p) => p.region)])];
  return regions
    .filter((id) => registry.plantsInRegion(id).length > 0)
    .map((id) => `${id} : ${registry.plantsInRegion(id).map((p) => p.id).join('|')}`)
    .join(', ');
}

export function regionDashboard(registry: PlantRegistry): dashboard.Dashboard {
  const inRegion = `"plant" =~ /^(\${region:raw})$/`;
  const region = new dashboard.CustomVariableBuilder('region').label('Region / 地区').values(regionOptions(registry));
  return base('cleanstream-region', 'cleanstream · region / 地区')
    .withVariable(region)
    .withPanel(
      new table.PanelBuilder()
        .title('Last COD, NH3-N and pH per plant / 各企业最新值')
        .datasource(DATASOURCE)
        .height(7)
        .span(24)
        .withTarget(influxql(`SELECT last("cod") AS "cod", last("nh3n") AS "nh3n", last("ph") AS "ph" FROM ${from('water')} WHERE ${inRegion} AND $timeFilter GROUP BY "plant"`).table()),
    )
    .withPanel(series('COD per plant / 化学需氧量', 'mg/L', influxql(`SELECT mean("cod") FROM ${from('water')} WHERE ${inRegion} AND $timeFilter GROUP BY time($__interval), "plant" fill(none)`).alias('$tag_plant')))
    .withPanel(series('NH3-N per plant / 氨氮', 'mg/L', influxql(`SELECT mean("nh3n") FROM ${from('water')} WHERE ${inRegion} AND $timeFilter GROUP BY time($__interval), "plant" fill(none)`).alias('$tag_plant')))
    .withPanel(
      new barchart.PanelBuilder()
        .title('COD load per day and plant (kg) / 日COD排放量')
        .datasource(DATASOURCE)
        .height(8)
        .span(12)
        .withTarget(influxql(dailyLoad('cod', inRegion))),
    )
    .withPanel(
      new table.PanelBuilder()
        .title('Alerts raised per plant / 报警次数')
        .datasource(DATASOURCE)
        .height(8)
        .span(12)
        .withTarget(influxql(`SELECT count("id") AS "raised" FROM ${from('alerts')} WHERE ${inRegion} AND "transition" = 'raised' AND $timeFilter GROUP BY "plant", "severity"`).table()),
    )
    .build();
}

export function fleetDashboard(): dashboard.Dashboard {
  return base('cleanstream-fleet', 'cleanstream · fleet / 全部企业')
    .withPanel(
      new table.PanelBuilder()
        .title('Last reading per plant / 各企业最新数据')
        .datasource(DATASOURCE)
        .height(7)
        .span(24)
        .withTarget(influxql(`SELECT last("cod_quality") AS "cod_quality", last("cod") AS "cod" FROM ${from('water')} WHERE $timeFilter GROUP BY "plant"`).table()),
    )
    .withPanel(
      new barchart.PanelBuilder()
        .title('COD load per day (kg) / 日COD排放量')
        .datasource(DATASOURCE)
        .height(8)
        .span(12)
        .withTarget(influxql(dailyLoad('cod', `"plant" =~ /.+/`))),
    )
    .withPanel(series('Active power per plant / 有功功率', 'kwatt', influxql(`SELECT mean("active_power") FROM ${from('energy')} WHERE $timeFilter GROUP BY time($__interval), "plant" fill(none)`).alias('$tag_plant')))
    .withPanel(series('NOx per plant / 氮氧化物', 'none', influxql(`SELECT mean("nox") FROM ${from('emissions')} WHERE $timeFilter GROUP BY time($__interval), "plant" fill(none)`).alias('$tag_plant')))
    .withPanel(
      new stat.PanelBuilder()
        .title('Alerts raised / 报警次数')
        .datasource(DATASOURCE)
        .height(8)
        .span(12)
        .withTarget(influxql(`SELECT count("id") FROM ${from('alerts')} WHERE "transition" = 'raised' AND $timeFilter`)),
    )
    .build();
}

/** A limit as the limits catalog gives it (rules/limits/catalog.ts): what the dashboard page draws, drawn here too. */
export interface PanelLimit {
  min?: number;
  max?: number;
  standard: string;
}

/** The quantities a plant's limit panels show, with their measurement, label and Grafana unit. */
const LIMITED_QUANTITIES = [
  { quantity: 'cod', measurement: 'water', title: 'COD / 化学需氧量', unit: 'mg/L' },
  { quantity: 'nh3n', measurement: 'water', title: 'NH3-N / 氨氮', unit: 'mg/L' },
  { quantity: 'ph', measurement: 'water', title: 'pH', unit: 'none' },
  { quantity: 'so2', measurement: 'emissions', title: 'SO2 / 二氧化硫', unit: 'mg/m3' },
  { quantity: 'nox', measurement: 'emissions', title: 'NOx / 氮氧化物', unit: 'mg/m3' },
  { quantity: 'particulate', measurement: 'emissions', title: 'Particulate / 颗粒物', unit: 'mg/m3' },
] as const;

/**
 * Threshold steps for a limit: red above a maximum, and below a minimum (pH 6–9), drawn as dashed lines like the page's
 * limit lines.
 */
export function limitThresholds(limit: PanelLimit): { value: number | null; color: string }[] {
  const steps: { value: number | null; color: string }[] = [{ value: null, color: limit.min !== undefined ? 'red' : 'green' }];
  if (limit.min !== undefined) steps.push({ value: limit.min, color: 'green' });
  if (limit.max !== undefined) steps.push({ value: limit.max, color: 'red' });
  return steps;
}

/**
 * One plant's concentrations against its limits: a panel per limited quantity the plant measures, with the catalog's
 * limit in force as dashed threshold lines (Grafana thresholds are fixed per panel, so a plant with its own limits
 * has its own dashboard; the `$plant` dashboard cannot draw them).
 */
export function plantLimitsDashboard(plant: Plant, limitOf: (quantity: QuantityId) => PanelLimit | undefined): dashboard.Dashboard {
  const measured = new Set(plant.meters.flatMap((m) => m.quantities));
  let board = base(`cleanstream-limits-${plant.id}`, `cleanstream · ${plant.name.en} limits / ${plant.name.zh} 限值`);
  for (const q of LIMITED_QUANTITIES) {
    if (!measured.has(q.quantity)) continue;
    const limit = limitOf(q.quantity);
    const query = `SELECT mean("${q.quantity}") FROM ${quoteIdentifier(q.measurement)} WHERE "plant" = '${plant.id}' AND $timeFilter GROUP BY time($__interval), "meter" fill(none)`;
    let panel = series(limit ? `${q.title} · ${limit.standard}` : q.title, q.unit, influxql(query).alias('$tag_meter'));
    if (limit) {
      panel = panel
        .thresholds(new dashboard.ThresholdsConfigBuilder().mode(dashboard.ThresholdsMode.Absolute).steps(limitThresholds(limit)))
        .thresholdsStyle(new common.GraphThresholdsStyleConfigBuilder().mode(common.GraphThresholdsStyleMode.Dashed));
    }
    board = board.withPanel(panel);
  }
  return board.build();
}

export interface GeneratedDashboard {
  file: string;
  dashboard: dashboard.Dashboard;
}

/** `limitOf`: the limit in force for a plant's quantity (the limits catalog); with it, a limits dashboard per plant. */
export function allDashboards(registry: PlantRegistry, limitOf?: (plant: Plant, quantity: QuantityId) => PanelLimit | undefined): GeneratedDashboard[] {
  return [
    { file: 'plant.json', dashboard: plantDashboard() },
    { file: 'region.json', dashboard: regionDashboard(registry) },
    { file: 'fleet.json', dashboard: fleetDashboard() },
    ...(limitOf ? registry.plants.map((plant) => ({ file: `limits-${plant.id}.json`, dashboard: plantLimitsDashboard(plant, (q) => limitOf(plant, q)) })) : []),
  ];
}

export interface PanelQuery {
  panel: string;
  refId: string;
  query: string;
  /** The panel's relative time override (`1y`): Grafana runs its queries over that span ending now instead. */
  timeFrom?: string;
}

/** Every raw InfluxQL query of a dashboard's panels (rows included), with the panel's title and time override. */
export function panelQueries(board: { panels?: unknown[] }): PanelQuery[] {
  const out: PanelQuery[] = [];
  const visit = (panels: unknown[] | undefined): void => {
    for (const p of panels ?? []) {
      const panel = p as { title?: string; timeFrom?: string; targets?: { refId?: string; query?: string }[]; panels?: unknown[] };
      for (const t of panel.targets ?? []) {
        if (t.query) out.push({ panel: panel.title ?? '', refId: t.refId ?? '', query: t.query, ...(panel.timeFrom ? { timeFrom: panel.timeFrom } : {}) });
      }
      visit(panel.panels);
    }
  };
  visit(board.panels);
  return out;
}

const OVERRIDE_UNIT_MS: Record<string, number> = { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000, w: 7 * 86_400_000, M: 30 * 86_400_000, y: 365 * 86_400_000 };

/** The range a panel with a relative time override (`timeFrom: 1y`) queries: that span, ending at the dashboard's end. */
export function overriddenRange(values: TemplateValues, timeFrom: string | undefined): TemplateValues {
  if (timeFrom === undefined) return values;
  const match = /^(\d+)([smhdwMy])$/.exec(timeFrom);
  if (!match) throw new Error(`unsupported panel time override ${timeFrom}`);
  return { ...values, from: values.to - Number(match[1]) * (OVERRIDE_UNIT_MS[match[2] as string] as number) };
}

export interface TemplateValues {
  /** Start and end of the dashboard's time range (ms). */
  from: number;
  to: number;
  /** $__interval, e.g. 1m. */
  interval: string;
  variables: Record<string, string>;
}

/**
 * The query as Grafana's InfluxDB datasource sends it: $timeFilter as a time range in ms, $__interval, and
 * variables as `$name`, `${name}` or `${name:raw}` substituted as they are (single values).
 */
export function interpolate(query: string, values: TemplateValues): string {
  return query
    .replaceAll('$timeFilter', `time >= ${values.from}ms and time <= ${values.to}ms`)
    .replaceAll('$__interval', values.interval)
    .replace(/\$\{(\w+)(?::raw)?\}|\$(\w+)/g, (match, braced: string | undefined, bare: string | undefined) => {
      const name = (braced ?? bare) as string;
      // Grafana's own $tag_<tag> aliases are not variables
      if (name.startsWith('tag_')) return match;
      const value = values.variables[name];
      if (value === undefined) throw new Error(`no value for template variable ${name} in: ${query}`);
      return value;
    });
}

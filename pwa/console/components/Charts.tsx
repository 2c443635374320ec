// Charts with uPlot (its own chunk, loaded only on this page): top-ups per hour, the delay from
// paid to claimed, and the amounts people top up. Each chart has a text summary for readers
// that cannot see a canvas.
import { useEffect, useMemo, useRef, useState } from 'preact/hooks';
import uPlot from 'uplot';
import 'uplot/dist/uPlot.min.css';
import type { ConsoleChartsResponse } from '../../../protocol/console.ts';
import { fenToYuan } from '../../../protocol/money.ts';
import type { Loaded } from '../hooks.ts';
import { useI18n } from '../i18n.ts';
import { ErrorText, Field, Loading, Page } from './common.tsx';

export const CHART_DAYS = [1, 7, 31] as const;
const CHART_HEIGHT_PX = 220;
const HOUR_MS = 3_600_000;
// The Worker answers at most 31 days of hours.
const HOURS_MAX = 24 * 31;
// Tick steps (seconds) of the hourly chart: whole hours for a day, whole days for longer.
const HOUR_TICKS_S = [3_600, 7_200, 10_800, 21_600];
const DAY_TICKS_S = [86_400, 172_800, 604_800];
// Counts are whole top-ups: the count axis never ticks at 0.5.
const COUNT_INCRS = [1, 2, 5, 10, 20, 50, 100, 200, 500, 1_000, 2_000, 5_000, 10_000, 20_000, 50_000, 100_000];
const INK = '#15202b';
const BRAND = '#0b5fa5';
const WARN = '#8a4b00';

function useWidth(element: { current: HTMLElement | null }): number {
  const [width, setWidth] = useState(0);
  useEffect(() => {
    const node = element.current;
    if (node === null) return;
    const observer = new ResizeObserver(() => setWidth(Math.floor(node.clientWidth)));
    observer.observe(node);
    setWidth(Math.floor(node.clientWidth));
    return () => observer.disconnect();
  }, []);
  return width;
}

function Plot({ data, options, label, testid }: { data: uPlot.AlignedData; options: Omit<uPlot.Options, 'width' | 'height'>; label: string; testid: string }) {
  const box = useRef<HTMLDivElement>(null);
  const width = useWidth(box);
  useEffect(() => {
    if (box.current === null || width === 0) return;
    const plot = new uPlot({ ...options, width, height: CHART_HEIGHT_PX }, data, box.current);
    return () => plot.destroy();
  }, [data, width]);
  return <div class="chart" ref={box} role="img" aria-label={label} data-testid={testid} />;
}

/** Every hour of the period, empty ones as 0: the Worker lists only hours that had top-ups. */
function hourlySeries(c: ConsoleChartsResponse): uPlot.AlignedData {
  const counts = new Map(c.topups_per_hour.map((h) => [h.hour_start_ms, h.count]));
  const xs: number[] = [];
  const ys: number[] = [];
  for (let at_ms = c.from_ms; at_ms < c.to_ms && xs.length < HOURS_MAX; at_ms += HOUR_MS) {
    xs.push(at_ms / 1000);
    ys.push(counts.get(at_ms) ?? 0);
  }
  return [xs, ys];
}

/** Half a bucket of room either side, so the first and last bars are drawn whole. */
function bucketRange(_u: uPlot, min: number, max: number): uPlot.Range.MinMax {
  return [min - 0.5, max + 0.5];
}

/** Bars for a histogram over labelled buckets (uPlot draws them as series on an index axis). */
function bars(): uPlot.Series.PathBuilder {
  return uPlot.paths.bars!({ size: [0.6, 48] });
}

export function Charts(props: { days: number; onDays: (days: number) => void; charts: Loaded<ConsoleChartsResponse> }) {
  const { t, lang } = useI18n();
  const c = props.charts.value;
  // One array per answer: a new array would make every render draw the chart anew.
  const series = useMemo(
    () =>
      c === null
        ? null
        : {
            hourly: hourlySeries(c),
            delay: [c.claim_delay.map((_b, i) => i), c.claim_delay.map((b) => b.count)] as uPlot.AlignedData,
            amounts: [c.amounts.map((_b, i) => i), c.amounts.map((b) => b.count)] as uPlot.AlignedData,
          },
    [c],
  );
  const axis = { stroke: INK, grid: { stroke: '#e1e6ec' }, ticks: { stroke: '#cfd6df' } };
  // One day reads by the hour, several by the day; either way in China time.
  const tickFormat = new Intl.DateTimeFormat(
    lang === 'zh' ? 'zh-CN' : 'en-GB',
    props.days === 1 ? { timeZone: 'Asia/Shanghai', hour: '2-digit', minute: '2-digit', hour12: false } : { timeZone: 'Asia/Shanghai', month: '2-digit', day: '2-digit' },
  );

  const delayLabel = (le_ms: number | null, i: number, all: { le_ms: number | null }[]) =>
    le_ms === null ? t('chart_over', { v: durationShort(all[i - 1]?.le_ms ?? 0, t) }) : t('chart_up_to', { v: durationShort(le_ms, t) });
  const amountLabel = (le_fen: number | null, i: number, all: { le_fen: number | null }[]) =>
    le_fen === null ? t('chart_over', { v: `¥${fenToYuan(all[i - 1]?.le_fen ?? 0)}` }) : t('chart_up_to', { v: `¥${fenToYuan(le_fen)}` });

  const total = c ? c.topups_per_hour.reduce((sum, h) => sum + h.count, 0) : 0;
  const total_fen = c ? c.topups_per_hour.reduce((sum, h) => sum + h.amount_fen, 0) : 0;

  return (
    <Page title={t('nav_charts')}>
      <div class="filters">
        <Field id="charts-days" label={t('chart_days')}>
          <select id="charts-days" value={String(props.days)} onChange={(e) => props.onDays(Number(e.currentTarget.value))}>
            {CHART_DAYS.map((d) => (
              <option value={String(d)}>{t('chart_days_n', { n: d })}</option>
            ))}
          </select>
        </Field>
      </div>
      <ErrorText code={props.charts.error} />
      <Loading loading={props.charts.loading && props.charts.value === null} />
      {c ? (
        <>
          <section class="panel" aria-labelledby="chart-hourly">
            <h2 id="chart-hourly">{t('chart_hourly')}</h2>
            <p class="muted" data-testid="chart-hourly-summary">
              {t('chart_hourly_summary', { n: total, yuan: fenToYuan(total_fen) })}
            </p>
            <Plot
              testid="chart-hourly"
              label={t('chart_hourly_summary', { n: total, yuan: fenToYuan(total_fen) })}
              data={series!.hourly}
              options={{
                scales: { x: { time: true } },
                axes: [{ ...axis, space: 64, incrs: props.days === 1 ? HOUR_TICKS_S : DAY_TICKS_S, values: (_u, ticks) => ticks.map((s) => tickFormat.format(s * 1000)) }, { ...axis, label: t('chart_count'), incrs: COUNT_INCRS }],
                series: [{}, { label: t('chart_count'), stroke: BRAND, fill: 'rgba(11,95,165,0.15)', width: 2 }],
                legend: { show: false },
              }}
            />
          </section>
          <section class="panel" aria-labelledby="chart-delay">
            <h2 id="chart-delay">{t('chart_delay')}</h2>
            <HistogramSummary rows={c.claim_delay.map((b, i, all) => [delayLabel(b.le_ms, i, all), b.count])} />
            <Plot
              testid="chart-delay"
              label={t('chart_delay')}
              data={series!.delay}
              options={{
                scales: { x: { time: false, range: bucketRange } },
                axes: [{ ...axis, values: (_u, ticks) => ticks.map((i) => (Number.isInteger(i) && c.claim_delay[i] ? delayLabel(c.claim_delay[i]!.le_ms, i, c.claim_delay) : '')) }, { ...axis, incrs: COUNT_INCRS }],
                series: [{}, { label: t('chart_count'), stroke: WARN, fill: 'rgba(138,75,0,0.35)', paths: bars(), points: { show: false } }],
                legend: { show: false },
              }}
            />
          </section>
          <section class="panel" aria-labelledby="chart-amounts">
            <h2 id="chart-amounts">{t('chart_amounts')}</h2>
            <HistogramSummary rows={c.amounts.map((b, i, all) => [amountLabel(b.le_fen, i, all), b.count])} />
            <Plot
              testid="chart-amounts"
              label={t('chart_amounts')}
              data={series!.amounts}
              options={{
                scales: { x: { time: false, range: bucketRange } },
                axes: [{ ...axis, values: (_u, ticks) => ticks.map((i) => (Number.isInteger(i) && c.amounts[i] ? amountLabel(c.amounts[i]!.le_fen, i, c.amounts) : '')) }, { ...axis, incrs: COUNT_INCRS }],
                series: [{}, { label: t('chart_count'), stroke: BRAND, fill: 'rgba(11,95,165,0.35)', paths: bars(), points: { show: false } }],
                legend: { show: false },
              }}
            />
          </section>
        </>
      ) : null}
    </Page>
  );
}

function HistogramSummary({ rows }: { rows: [string, number][] }) {
  return (
    <ul class="histogram-summary">
      {rows.map(([label, count]) => (
        <li key={label}>
          {label}: <strong>{count}</strong>
        </li>
      ))}
    </ul>
  );
}

function durationShort(ms: number, t: ReturnType<typeof useI18n>['t']): string {
  if (ms < 60_000) return t('unit_s', { n: Math.round(ms / 1000) });
  if (ms < 3_600_000) return t('unit_min', { n: Math.round(ms / 60_000) });
  if (ms < 86_400_000) return t('unit_h', { n: Math.round(ms / 3_600_000) });
  return t('unit_d', { n: Math.round(ms / 86_400_000) });
}

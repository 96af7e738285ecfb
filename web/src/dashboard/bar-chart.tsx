/**
 * A small bar chart in SVG (no chart library: the whole app stays light):
 * one bar per value, the largest value labelled, the first and last times
 * under it. The values are also in a visually hidden table for screen readers.
 */
interface Props {
  title: string;
  values: number[];
  /** Labels of the first and last bar (`12:01`, `13:00`). */
  from: string;
  to: string;
  unit: string;
}

const WIDTH = 600;
const HEIGHT = 120;

export function BarChart({ title, values, from, to, unit }: Props) {
  const max = Math.max(1, ...values);
  const step = WIDTH / Math.max(1, values.length);
  const total = values.reduce((a, b) => a + b, 0);
  return (
    <figure class="chart" data-chart={title} data-total={total}>
      <figcaption>
        {title} <span class="hint">(highest {Math.max(0, ...values)} {unit})</span>
      </figcaption>
      <svg viewBox={`0 0 ${WIDTH} ${HEIGHT}`} preserveAspectRatio="none" role="img" aria-label={`${title}: ${total} in all over the last hour`}>
        <line x1="0" y1={HEIGHT - 0.5} x2={WIDTH} y2={HEIGHT - 0.5} class="chart-axis" />
        {values.map((value, i) => {
          const height = (value / max) * (HEIGHT - 4);
          return value > 0 ? <rect key={i} x={i * step + 1} y={HEIGHT - height} width={Math.max(1, step - 2)} height={height} class="chart-bar" /> : null;
        })}
      </svg>
      <div class="chart-times hint">
        <span>{from}</span>
        <span>{to}</span>
      </div>
    </figure>
  );
}

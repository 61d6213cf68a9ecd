import { useEffect, useRef, useState } from "react";
import { BarController, BarElement, CategoryScale, Chart, Legend, LinearScale, LineController, LineElement, PointElement, Tooltip } from "chart.js";
import { api, type Schemas } from "../api/client";

Chart.register(BarController, BarElement, LineController, LineElement, PointElement, CategoryScale, LinearScale, Legend, Tooltip);

const DAYS = 30;

function isoDay(date: Date): string {
  return date.toISOString().slice(0, 10);
}

/// Every day of the window, zero where nothing was metered.
function daily(report: Schemas["UsageReport"]): Schemas["UsageDay"][] {
  const byDay = new Map(report.days.map((d) => [d.day, d]));
  const days: Schemas["UsageDay"][] = [];
  for (let t = new Date(`${report.from}T00:00:00Z`); isoDay(t) <= report.to; t = new Date(t.getTime() + 86_400_000)) {
    const day = isoDay(t);
    days.push(byDay.get(day) ?? { day, llm_models: [], usage: { runs: 0, node_executions: 0, fuel: 0, http_calls: 0, llm_tokens: 0 } });
  }
  return days;
}

/// The plan's quotas, today's use against them, and a chart of the last
/// 30 days' runs, node executions and tokens.
export function Usage() {
  const [plan, setPlan] = useState<Schemas["PlanAnswer"] | null>(null);
  const [report, setReport] = useState<Schemas["UsageReport"] | null>(null);
  const canvas = useRef<HTMLCanvasElement>(null);

  useEffect(() => {
    const to = new Date();
    const from = new Date(to.getTime() - (DAYS - 1) * 86_400_000);
    api.GET("/v1/plan").then(({ data }) => setPlan(data ?? null));
    api.GET("/v1/usage", { params: { query: { from: isoDay(from), to: isoDay(to) } } }).then(({ data }) => setReport(data ?? null));
  }, []);

  useEffect(() => {
    if (!report || !canvas.current) return;
    const days = daily(report);
    const chart = new Chart(canvas.current, {
      type: "bar",
      data: {
        labels: days.map((d) => d.day.slice(5)),
        datasets: [
          { label: "Runs", data: days.map((d) => d.usage.runs), backgroundColor: "#2f6fdb", yAxisID: "count" },
          { label: "Node executions", data: days.map((d) => d.usage.node_executions), backgroundColor: "#8fb3f0", yAxisID: "count" },
          { type: "line", label: "LLM tokens", data: days.map((d) => d.usage.llm_tokens), borderColor: "#b4451f", backgroundColor: "#b4451f", yAxisID: "tokens" },
        ],
      },
      options: {
        animation: false,
        maintainAspectRatio: false,
        scales: {
          count: { type: "linear", position: "left", beginAtZero: true, title: { display: true, text: "runs, executions" } },
          tokens: { type: "linear", position: "right", beginAtZero: true, grid: { drawOnChartArea: false }, title: { display: true, text: "tokens" } },
        },
      },
    });
    return () => chart.destroy();
  }, [report]);

  const today = plan?.today.usage;
  const days = report ? daily(report) : [];
  return (
    <section aria-labelledby="usage-title">
      <h2 id="usage-title">Plan & usage</h2>
      {plan && today && (
        <table className="list" aria-label="Today against the plan">
          <tbody>
            <tr>
              <th>Runs today</th>
              <td>{today.runs}</td>
              <th>Concurrent runs allowed</th>
              <td>{plan.plan.concurrent_runs}</td>
            </tr>
            <tr>
              <th>Node executions today</th>
              <td>{today.node_executions}</td>
              <th>Nodes per workflow</th>
              <td>{plan.plan.nodes_per_workflow}</td>
            </tr>
            <tr>
              <th>LLM tokens today</th>
              <td>{today.llm_tokens}</td>
              <th>LLM tokens per day</th>
              <td>{plan.plan.llm_tokens_per_day}</td>
            </tr>
            <tr>
              <th>HTTP calls today</th>
              <td>{today.http_calls}</td>
              <th>HTTP requests per run</th>
              <td>{plan.plan.http_requests_per_run}</td>
            </tr>
          </tbody>
        </table>
      )}
      <figure className="chart">
        <div className="chart-box">
          <canvas ref={canvas} role="img" aria-label={`Daily runs, node executions and LLM tokens over the last ${DAYS} days`} />
        </div>
        <figcaption>Last {DAYS} days (UTC)</figcaption>
      </figure>
      <details>
        <summary>The same figures as a table</summary>
        <table className="list" data-testid="usage-table">
          <thead>
            <tr>
              <th>Day</th>
              <th>Runs</th>
              <th>Node executions</th>
              <th>LLM tokens</th>
            </tr>
          </thead>
          <tbody>
            {days
              .filter((d) => d.usage.runs || d.usage.node_executions || d.usage.llm_tokens)
              .map((d) => (
                <tr key={d.day}>
                  <td>{d.day}</td>
                  <td>{d.usage.runs}</td>
                  <td>{d.usage.node_executions}</td>
                  <td>{d.usage.llm_tokens}</td>
                </tr>
              ))}
          </tbody>
        </table>
      </details>
    </section>
  );
}

"""The viewer's stylesheet, inlined into every page (no external resource)."""

CSS = """
body { font-family: system-ui, -apple-system, "Segoe UI", sans-serif; margin: 1.5rem auto; max-width: 1500px;
       color: #111827; padding: 0 1rem; line-height: 1.4; }
h1 { font-size: 1.4rem; margin: 0.3rem 0; } h2 { font-size: 1.1rem; margin-top: 1.6rem;
     border-bottom: 1px solid #e5e7eb; } h3 { font-size: 0.95rem; margin: 0.8rem 0 0.3rem; }
nav { font-size: 0.85rem; color: #6b7280; } nav a { color: #2563eb; text-decoration: none; }
a { color: #2563eb; } table { border-collapse: collapse; font-size: 0.8rem; margin: 0.4rem 0; }
th, td { border: 1px solid #e5e7eb; padding: 0.2rem 0.4rem; text-align: left; vertical-align: top; }
th { background: #f3f4f6; position: sticky; top: 0; } .scroll { overflow-x: auto; }
.num { text-align: right; white-space: nowrap; }
.pass { background: #ecfdf5; color: #065f46; } .fail { background: #fef2f2; color: #991b1b; }
.infra { background: #fffbeb; color: #92400e; } .cell a { text-decoration: none; font-weight: 700; }
.meta { color: #4b5563; font-size: 0.85rem; } .muted { color: #6b7280; } .small { font-size: 0.8rem; }
form.filters { display: flex; gap: 0.8rem; flex-wrap: wrap; align-items: end; font-size: 0.85rem;
               background: #f9fafb; border: 1px solid #e5e7eb; padding: 0.5rem 0.7rem; border-radius: 6px; }
form.filters label { display: flex; flex-direction: column; gap: 0.15rem; }
.turn { border: 1px solid #e5e7eb; border-radius: 6px; padding: 0.5rem 0.7rem; margin: 0.5rem 0; }
.user { background: #eff6ff; border-radius: 4px; padding: 0.3rem 0.5rem; white-space: pre-wrap; }
.answer { background: #f9fafb; border-radius: 4px; padding: 0.3rem 0.5rem; white-space: pre-wrap;
          font-family: ui-monospace, monospace; font-size: 0.8rem; max-height: 24rem; overflow: auto; }
.timeline { position: relative; border: 1px solid #e5e7eb; border-radius: 6px; padding: 0.3rem 0; }
.lane { position: relative; height: 1.35rem; margin: 0.1rem 0; }
.lane .label { position: absolute; left: 0.4rem; width: 15rem; font-size: 0.72rem; white-space: nowrap;
               overflow: hidden; text-overflow: ellipsis; line-height: 1.35rem; }
.lane .track { position: absolute; left: 16rem; right: 0.5rem; top: 0; bottom: 0; }
.bar { position: absolute; top: 0.2rem; bottom: 0.2rem; min-width: 3px; border-radius: 3px; }
.bar.model { background: #60a5fa; } .bar.tool { background: #34d399; } .bar.error { background: #f87171; }
.bar.turnmark { background: transparent; border-left: 2px dashed #9ca3af; border-radius: 0; }
details.event { border: 1px solid #e5e7eb; border-radius: 6px; margin: 0.3rem 0; padding: 0.2rem 0.5rem; }
details.event > summary { cursor: pointer; font-size: 0.85rem; }
details.event.model > summary::before { content: "model "; color: #2563eb; font-weight: 700; }
details.event.tool > summary::before { content: "tool "; color: #059669; font-weight: 700; }
.msg { border-left: 3px solid #d1d5db; margin: 0.3rem 0; padding: 0.1rem 0.5rem; }
.msg .role { font-weight: 700; font-size: 0.75rem; text-transform: uppercase; color: #4b5563; }
.msg.system { border-color: #a78bfa; } .msg.user { border-color: #60a5fa; } .msg.assistant { border-color: #34d399; }
.msg.tool { border-color: #fbbf24; }
pre { white-space: pre-wrap; overflow-wrap: anywhere; font-size: 0.75rem; margin: 0.2rem 0;
      max-height: 28rem; overflow: auto; background: #f9fafb; padding: 0.3rem; border-radius: 4px; }
.sides { display: grid; grid-template-columns: 1fr 1fr; gap: 1rem; }
.sides > div { min-width: 0; } .badge { display: inline-block; padding: 0 0.35rem; border-radius: 4px;
              font-size: 0.75rem; font-weight: 700; }
"""

'use strict';
'require view';
'require fs';
'require poll';
'require ui';

// Status > Load balancing: what `ecmp4 status --json` and `ecmp6 status
// --json` (schema 2, see the README of ecmp-hotplug) report, polled. The
// rates are computed here, between two polls, from each member device's
// byte counters: the binaries keep no history.

const FAMILIES = [
	{ key: 'ipv4', title: 'IPv4', cmd: '/usr/sbin/ecmp4' },
	{ key: 'ipv6', title: 'IPv6', cmd: '/usr/sbin/ecmp6' }
];

// One family's report, or { error } with why there is none: a failed
// family must not hide the other.
function fetchFamily(f) {
	return fs.exec_direct(f.cmd, [ 'status', '--json' ], 'json').then(function(r) {
		if (!r || typeof(r) != 'object' || !Array.isArray(r.members))
			return { error: _('%s status --json printed no report').format(f.cmd) };
		return r;
	}).catch(function(e) {
		return { error: _('%s status --json failed: %s').format(f.cmd, e.message || e) };
	});
}

function fetchAll() {
	return Promise.all(FAMILIES.map(fetchFamily));
}

function rateText(bytesPerSecond) {
	if (bytesPerSecond == null)
		return '–';
	let v = bytesPerSecond * 8, u = 0;
	const units = [ 'bit/s', 'kbit/s', 'Mbit/s', 'Gbit/s' ];
	while (v >= 1000 && u < units.length - 1) {
		v /= 1000;
		u++;
	}
	return v.toFixed(u ? 1 : 0) + ' ' + units[u];
}

function modeText(m) {
	return { 'auto': _('auto'), 'resilient': _('resilient'), 'group': _('group'),
		'multipath': _('multipath'), 'none': _('none') }[m] || m;
}

function uptimeText(s) {
	return (s == null) ? '–' : '%t'.format(s);
}

function trackText(t) {
	if (!t)
		return _('not tracked');
	const parts = [ t.state == 'alive' ? _('alive') : t.state == 'dead' ? _('dead') : _('unknown') ];
	if (t.rtt_us != null)
		parts.push('%.1f ms'.format(t.rtt_us / 1000));
	parts.push(_('%d%% loss').format(t.loss));
	return parts.join(', ');
}

// The rounds behind a verdict (status --json's rtt_history and
// loss_history, oldest first), as a small chart: the round trip as a blue
// line scaled to the slowest round shown, each lossy round as a red bar
// from the bottom, its height the share lost. An SVG string (LuCI's E()
// makes HTML elements, and sets a string child as markup).
function trackChart(t) {
	const rtt = (t && t.rtt_history) || [], loss = (t && t.loss_history) || [];
	if (!rtt.length)
		return null;
	// A slot per round of the 60 the tracker keeps, newest at the right.
	const W = 120, H = 24, step = W / 60;
	const max = Math.max.apply(null, [ 1 ].concat(rtt.filter((v) => v != null)));
	let line = '', bars = '', lossy = 0;
	rtt.forEach((v, i) => {
		const x = W - (rtt.length - i) * step;
		if (v != null)
			line += '%s%.1f,%.1f'.format(i && rtt[i - 1] != null ? 'L' : 'M', x + step / 2, H - 1 - v / max * (H - 2));
		if (loss[i] > 0) {
			const h = Math.max(loss[i] / 100 * H, 1);
			bars += '<rect x="%.1f" y="%.1f" width="%.1f" height="%.1f" fill="#ef4444"/>'.format(x, H - h, step, h);
			lossy++;
		}
	});
	const title = _('Last %d rounds: round trip up to %.1f ms, %d with loss').format(rtt.length, max / 1000, lossy);
	return E('div', { 'class': 'ecmp-chart', 'title': title, 'data-rounds': String(rtt.length),
		'data-lossy': String(lossy), 'data-max-us': String(max) },
		'<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" style="display:block;background:#f3f4f6;border-radius:2px">%s<path d="%s" fill="none" stroke="#3b82f6" stroke-width="1.5"/></svg>'.format(W, H, W, H, bars, line));
}

// Tracking may call a member dead and still keep it (every member of
// its tier dead): "used" decides, the verdict only says why not.
function stateText(m) {
	if (!m.used)
		return (m.track && m.track.state == 'dead') ? _('held out: dead') : _('standing by: a lower tier is up');
	return m.in_kernel ? _('in the route') : _('missing from the route');
}

return view.extend({
	// Previous counters per "family/device": { rx, tx, t } (ms).
	seen: {},
	// Last rates per "family/device": [ rx, tx ] bytes per second.
	rates: {},

	load: function() {
		return fetchAll();
	},

	// Rates between this poll and the last one that saw the device.
	updateRates: function(reports) {
		const now = Date.now();
		reports.forEach((r, i) => {
			(r.members || []).forEach((m) => {
				const k = FAMILIES[i].key + '/' + m.device, p = this.seen[k];
				if (m.rx_bytes == null || m.tx_bytes == null) {
					delete this.seen[k];
					delete this.rates[k];
					return;
				}
				if (p && now > p.t && m.rx_bytes >= p.rx && m.tx_bytes >= p.tx) {
					const dt = (now - p.t) / 1000;
					this.rates[k] = [ (m.rx_bytes - p.rx) / dt, (m.tx_bytes - p.tx) / dt ];
				}
				this.seen[k] = { rx: m.rx_bytes, tx: m.tx_bytes, t: now };
			});
		});
	},

	renderSummary: function(reports) {
		// Dials are the IPv4 family's members (PPPoE sessions); IPv6-only
		// routers count theirs.
		const r = reports.find((x) => !x.error && (x.members.length || (x.down || []).length));
		if (!r)
			return E('div', { 'class': 'alert-message warning', 'id': 'ecmp-summary' },
				_('No dials: no interface of a member proto is configured, or no report could be read.'));
		const up = r.members.length, all = up + (r.down || []).length;
		const used = r.members.filter((m) => m.used).length;
		return E('div', { 'class': 'cbi-section', 'id': 'ecmp-summary' }, [
			E('h3', { 'style': 'margin:0' }, _('%d of %d dials online').format(up, all)),
			E('p', {}, [
				_('%d carrying traffic (%s).').format(used, r.family == 'ipv6' ? 'IPv6' : 'IPv4'),
				(r.down || []).length ? ' ' + _('Down: %s').format(r.down.join(', ')) : ''
			])
		]);
	},

	renderBar: function(value, max, cls) {
		const pct = (max > 0 && value != null) ? Math.max(value / max * 100, value > 0 ? 1 : 0) : 0;
		return E('div', { 'class': 'ecmp-bar ' + cls, 'data-rate': value == null ? '' : String(Math.round(value)) }, [
			E('div', { 'style': 'background:#e5e7eb;height:8px;border-radius:2px' },
				E('div', { 'style': 'background:%s;width:%.1f%%;height:8px;border-radius:2px'.format(cls == 'rx' ? '#3b82f6' : '#22c55e', pct) })),
			E('small', {}, rateText(value))
		]);
	},

	renderFamily: function(f, r) {
		if (r.error)
			return E('div', { 'class': 'cbi-section', 'data-family': f.key }, [
				E('h3', {}, f.title),
				E('div', { 'class': 'alert-message error' }, r.error)
			]);

		const rates = r.members.map((m) => this.rates[f.key + '/' + m.device] || [ null, null ]);
		// The busiest direction of any member fills its bar; below 100
		// kbit/s (ARP, router solicitations) nothing looks busy.
		const max = Math.max.apply(null, [ 12500 ].concat(rates.map((x) => Math.max(x[0] || 0, x[1] || 0))));

		const rows = r.members.map((m, i) => E('tr', { 'class': 'tr', 'data-interface': m.interface, 'data-device': m.device }, [
			E('td', { 'class': 'td', 'data-title': _('Interface') }, m.interface),
			E('td', { 'class': 'td', 'data-title': _('Device') }, m.device),
			E('td', { 'class': 'td', 'data-title': _('Gateway') }, m.gateway || '–'),
			E('td', { 'class': 'td', 'data-title': _('Weight') }, String(m.weight)),
			E('td', { 'class': 'td', 'data-title': _('Tier') }, String(m.tier)),
			E('td', { 'class': 'td', 'data-title': _('Uptime') }, uptimeText(m.uptime)),
			E('td', { 'class': 'td', 'data-title': _('State') }, stateText(m)),
			E('td', { 'class': 'td', 'data-title': _('Tracking') }, [ trackText(m.track), trackChart(m.track) ]),
			E('td', { 'class': 'td', 'data-title': _('Receive') }, this.renderBar(rates[i][0], max, 'rx')),
			E('td', { 'class': 'td', 'data-title': _('Transmit') }, this.renderBar(rates[i][1], max, 'tx'))
		]));

		const table = E('table', { 'class': 'table' }, [
			E('tr', { 'class': 'tr table-titles' }, [
				E('th', { 'class': 'th' }, _('Interface')),
				E('th', { 'class': 'th' }, _('Device')),
				E('th', { 'class': 'th' }, _('Gateway')),
				E('th', { 'class': 'th' }, _('Weight')),
				E('th', { 'class': 'th' }, _('Tier')),
				E('th', { 'class': 'th' }, _('Uptime')),
				E('th', { 'class': 'th' }, _('State')),
				E('th', { 'class': 'th' }, _('Tracking')),
				E('th', { 'class': 'th', 'style': 'min-width:8em' }, _('Receive')),
				E('th', { 'class': 'th', 'style': 'min-width:8em' }, _('Transmit'))
			])
		].concat(rows.length ? rows : [
			E('tr', { 'class': 'tr placeholder' }, E('td', { 'class': 'td' }, E('em', {}, _('No live member.'))))
		]));

		const sync = r.in_sync ? E('span', { 'class': 'ecmp-sync', 'style': 'color:#16a34a' }, _('in sync'))
			: E('span', { 'class': 'ecmp-sync', 'style': 'color:#dc2626' }, _('differs from the kernel'));

		const info = E('table', { 'class': 'table' }, [
			E('tr', { 'class': 'tr' }, [ E('td', { 'class': 'td left', 'width': '33%' }, _('Mode in use')),
				E('td', { 'class': 'td left' }, modeText(r.mode_in_use) + (r.mode != 'auto' ? ' (' + _('configured: %s').format(modeText(r.mode)) + ')' : '')) ]),
			E('tr', { 'class': 'tr' }, [ E('td', { 'class': 'td left' }, _('Route')),
				E('td', { 'class': 'td left' }, _('default, table %s, metric %d').format(r.table == 254 ? 'main' : r.table, r.metric)) ]),
			E('tr', { 'class': 'tr' }, [ E('td', { 'class': 'td left' }, _('Kernel')), E('td', { 'class': 'td left' }, sync) ]),
			E('tr', { 'class': 'tr' }, [ E('td', { 'class': 'td left' }, _('Link tracking')),
				E('td', { 'class': 'td left' }, { 'off': _('off'), 'running': _('running'), 'not running': _('not running'), 'stale': _('stale') }[r.tracking] || r.tracking) ])
		]);

		const notes = [];
		if (r.diff.length)
			notes.push(E('div', { 'class': 'alert-message warning ecmp-diff' }, [
				E('strong', {}, _('Differences (kernel → wanted):')),
				E('ul', { 'style': 'margin:.25em 0 .5em 1.5em' }, r.diff.map((d) => E('li', {}, d))),
				E('button', {
					'class': 'btn cbi-button cbi-button-apply',
					'click': ui.createHandlerFn(this, 'handleSync', f)
				}, _('Sync now'))
			]));
		if (r.warnings.length)
			notes.push(E('div', { 'class': 'alert-message notice ecmp-warnings' }, [
				E('strong', {}, _('Warnings')),
				E('ul', { 'style': 'margin:.25em 0 0 1.5em' }, r.warnings.map((w) => E('li', {}, w)))
			]));

		// The policy rules: where each sends what it matches now, and
		// the connections it matched.
		const state = { 'pinned': _('pinned'), 'route': _('by the route (member out of it)'),
			'refused': _('refused (member out of the route)'), 'balanced': _('balanced') };
		const rules = (r.rules || []).length ? [ E('table', { 'class': 'table ecmp-rules' }, [
			E('tr', { 'class': 'tr table-titles' }, [
				E('th', { 'class': 'th' }, _('Rule')),
				E('th', { 'class': 'th' }, _('Use')),
				E('th', { 'class': 'th' }, _('Now')),
				E('th', { 'class': 'th' }, _('Connections'))
			])
		].concat(r.rules.map((x) => E('tr', { 'class': 'tr', 'data-rule': x.name }, [
			E('td', { 'class': 'td', 'data-title': _('Rule') }, x.name),
			E('td', { 'class': 'td', 'data-title': _('Use') }, x.target + (x.sticky ? ' (' + _('sticky') + ')' : '')),
			E('td', { 'class': 'td', 'data-title': _('Now') }, state[x.state] || x.state),
			E('td', { 'class': 'td connections', 'data-title': _('Connections') }, x.connections == null ? '-' : String(x.connections))
		])))) ] : [];

		return E('div', { 'class': 'cbi-section', 'data-family': f.key }, [
			E('h3', {}, f.title),
			info
		].concat(notes, [ table ], rules));
	},

	handleSync: function(f) {
		return fs.exec_direct(f.cmd, [ 'sync' ]).then(() => this.refresh()).catch(function(e) {
			ui.addNotification(null, E('p', _('%s sync failed: %s').format(f.cmd, e.message || e)), 'error');
		});
	},

	refresh: function() {
		return fetchAll().then((reports) => this.update(reports));
	},

	update: function(reports) {
		this.updateRates(reports);
		const body = document.getElementById('ecmp-body');
		if (body)
			body.replaceChildren(this.renderSummary(reports),
				...FAMILIES.map((f, i) => this.renderFamily(f, reports[i])));
	},

	render: function(reports) {
		this.updateRates(reports);
		poll.add(() => this.refresh());
		return E('div', { 'class': 'cbi-map' }, [
			E('h2', {}, _('Load balancing')),
			E('div', { 'class': 'cbi-map-descr' },
				_('Every live WAN link in one equal-cost multipath default route (ecmp-hotplug). Receive and transmit are each device\'s traffic (both families), measured between two refreshes.')),
			E('div', { 'id': 'ecmp-body' }, [ this.renderSummary(reports) ].concat(
				FAMILIES.map((f, i) => this.renderFamily(f, reports[i]))))
		]);
	},

	handleSaveApply: null,
	handleSave: null,
	handleReset: null
});

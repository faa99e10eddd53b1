'use strict';
'require view';
'require form';
'require fs';
'require ui';
'require network';
'require rpc';
'require uci';

// Network > Multi-dial: the setup multidial applies, kept in
// /etc/config/ecmp (config multidial 'multidial'), edited here through
// LuCI's uci apply, then planned, applied and started by the four exact
// commands the ACL grants: `multidial plan --from-config`, `multidial
// apply --from-config`, `multidial up --from-config` and `multidial
// remove`. The password goes where
// /etc/config/network already keeps each dial's; no command line carries
// it, and the plan shows it as ********. Redial goes over netifd's ubus
// (network.interface down, then up), one dial or all in batches, never
// by killing pppd.

const MULTIDIAL = '/usr/sbin/multidial';

function uint(lo, hi, what) {
	return function(sid, v) {
		if (v == null || v === '')
			return true;
		return (/^[0-9]+$/.test(v) && +v >= lo && +v <= hi) ? true : _('Expecting %s from %d to %d').format(what, lo, hi);
	};
}

function validateIpv6(sid, v) {
	return (v == null || v === '' || /^(none|all|[0-9]+(,[0-9]+)*)$/.test(v)) ? true : _('Expecting none, all or dial numbers such as 1,2');
}

// What a command said, for the page: its output and its words on stderr.
function said(res) {
	const text = [ (res.stderr || '').trim(), (res.stdout || '').trim() ].filter(function(x) { return x; }).join('\n');
	return E('pre', { 'class': 'multidial-output', 'data-code': res.code }, [ text || _('(no output)') ]);
}

const callDown = rpc.declare({ object: 'network.interface', method: 'down', params: [ 'interface' ], reject: true });
const callUp = rpc.declare({ object: 'network.interface', method: 'up', params: [ 'interface' ], reject: true });

function sleep(ms) {
	return new Promise(function(x) { setTimeout(x, ms); });
}

// One dial down, then up again: pppd ends its session and netifd starts
// a new one.
function redial(iface) {
	return callDown(iface).then(function() { return callUp(iface); });
}

// The dials multidial made or adopted, in /etc/config/network.
function ourDials() {
	return uci.sections('network', 'interface').filter(function(s) {
		return s.multidial == '1' || s.multidial == 'adopted';
	}).map(function(s) { return s['.name']; });
}

function run(args) {
	return fs.exec(MULTIDIAL, args).catch(function(e) {
		return { code: -1, stdout: '', stderr: e.message };
	});
}

return view.extend({
	load: function() {
		// No /etc/config/network (or no access to it): no dials to list.
		return Promise.all([ network.getDevices(), uci.load('network').catch(function() {}) ]).then(function(r) { return r[0]; });
	},

	render: function(devices) {
		const m = new form.Map('ecmp', _('Multi-dial'),
			_('Several PPPoE sessions over one line or more: a macvlan device and a pppoe interface per dial, every dial in the firewall zone, balanced by ecmp4/ecmp6. Save & Apply keeps the setup; then show the plan and apply it.'));

		const s = m.section(form.NamedSection, 'multidial', 'multidial', _('Setup'));
		s.addremove = true;

		let o = s.option(form.DynamicList, 'line', _('Lines'),
			_('The parent device of each line (the WAN port, e.g. eth0.2); each gets its own dials.'));
		for (const d of devices) {
			const n = d.getName();
			if (n && n != 'lo' && !/^(pppoe-|veth)/.test(n))
				o.value(n);
		}
		o.rmempty = false;

		o = s.option(form.Value, 'dials', _('Dials per line'));
		o.placeholder = '2';
		o.validate = uint(1, 250, _('a number of dials'));

		o = s.option(form.Value, 'username', _('PPPoE username'));
		o.rmempty = false;

		o = s.option(form.Value, 'password', _('PPPoE password'),
			_('Kept as /etc/config/network keeps each dial\'s; never on a command line.'));
		o.password = true;
		o.rmempty = false;

		o = s.option(form.Value, 'ipv6', _('Dials with IPv6'),
			_('Dial numbers such as 1,2; all; or none.'));
		o.placeholder = 'none';
		o.validate = validateIpv6;

		o = s.option(form.Value, 'batch', _('Dials at a time'),
			_('At boot the dials start in batches: a BRAS refuses a burst of sessions.'));
		o.placeholder = '4';
		o.validate = uint(1, 250, _('a number of dials'));

		o = s.option(form.Value, 'delay', _('Seconds between batches'));
		o.placeholder = '5';
		o.validate = uint(0, 3600, _('seconds'));

		o = s.option(form.ListValue, 'balancer', _('Balancer'));
		o.value('ecmp', _('ecmp4/ecmp6 (one multipath route)'));
		o.value('mwan3', _('mwan3'));
		o.default = 'ecmp';

		const out = E('div', { 'id': 'multidial-output' });
		const show = function(node) {
			out.replaceChildren(node);
			return node;
		};

		return m.render().then(function(node) {
			node.appendChild(E('div', { 'class': 'cbi-section' }, [
				E('h3', _('Plan and apply')),
				E('p', _('The plan is what applying would change in /etc/config (the password as ********). Save & Apply the setup first: multidial does not run over unsaved changes. After applying, Start dials brings them up in batches, as at boot.')),
				E('div', { 'class': 'cbi-page-actions' }, [
					E('button', {
						'class': 'cbi-button cbi-button-action',
						'id': 'multidial-plan',
						'click': ui.createHandlerFn(this, function() {
							return run([ 'plan', '--from-config' ]).then(function(res) { return show(said(res)); });
						})
					}, [ _('Show plan') ]), ' ',
					E('button', {
						'class': 'cbi-button cbi-button-apply',
						'id': 'multidial-apply',
						'click': ui.createHandlerFn(this, function() {
							return run([ 'apply', '--from-config' ]).then(function(res) { return show(said(res)); });
						})
					}, [ _('Apply multi-dial') ]), ' ',
					E('button', {
						'class': 'cbi-button cbi-button-action',
						'id': 'multidial-up',
						'click': ui.createHandlerFn(this, function() {
							return run([ 'up', '--from-config' ]).then(function(res) { return show(said(res)); });
						})
					}, [ _('Start dials') ]), ' ',
					E('button', {
						'class': 'cbi-button cbi-button-remove',
						'id': 'multidial-remove',
						'click': ui.createHandlerFn(this, function() {
							ui.showModal(_('Remove multi-dial'), [
								E('p', _('Remove every dial, macvlan device and zone entry multidial made? Interfaces it adopted get their old settings back.')),
								E('div', { 'class': 'right' }, [
									E('button', { 'class': 'btn', 'click': ui.hideModal }, [ _('Cancel') ]), ' ',
									E('button', {
										'class': 'btn cbi-button-negative',
										'id': 'multidial-remove-confirm',
										'click': function() {
											ui.hideModal();
											return run([ 'remove' ]).then(function(res) { return show(said(res)); });
										}
									}, [ _('Remove') ])
								])
							]);
						})
					}, [ _('Remove multi-dial') ])
				]),
				out
			]));
			const dials = ourDials();
			const batch = +(uci.get('ecmp', 'multidial', 'batch') || 4) || 4;
			const delay = +(uci.get('ecmp', 'multidial', 'delay') || 5);
			const state = E('span', { 'id': 'multidial-redial-state' });
			node.appendChild(E('div', { 'class': 'cbi-section' }, [
				E('h3', _('Dials')),
				dials.length ? E('p', _('Redial: the dial goes down and up again over netifd; the others keep their sessions.')) : E('p', _('No dial made by multidial yet.')),
				E('div', { 'class': 'cbi-page-actions' }, dials.map(function(d) {
					return E('button', {
						'class': 'cbi-button cbi-button-action multidial-redial',
						'data-interface': d,
						'click': ui.createHandlerFn(this, function() {
							state.textContent = _('Redialling %s').format(d);
							return redial(d).then(function() {
								state.textContent = _('Redialled %s').format(d);
							}, function(e) {
								state.textContent = _('Redial of %s failed: %s').format(d, e.message);
							});
						})
					}, [ _('Redial %s').format(d) ]);
				}).concat(dials.length ? [ E('button', {
					'class': 'cbi-button cbi-button-apply',
					'id': 'multidial-redial-all',
					'click': ui.createHandlerFn(this, async function() {
						for (let i = 0; i < dials.length; i += batch) {
							if (i)
								await sleep(delay * 1000);
							const part = dials.slice(i, i + batch);
							state.textContent = _('Redialling %s').format(part.join(', '));
							try {
								await Promise.all(part.map(redial));
							}
							catch (e) {
								state.textContent = _('Redial of %s failed: %s').format(part.join(', '), e.message);
								return;
							}
						}
						state.textContent = _('Redialled %s').format(dials.join(', '));
					})
				}, [ _('Redial all, %d at a time').format(batch) ]) ] : [])),
				state
			]));
			return node;
		}.bind(this));
	}
});
